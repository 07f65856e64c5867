package vmrun

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// Powerdown presses the VM's ACPI power button through qemu's QMP
// socket, as the daemons stop a VM cleanly: the guest shuts down and
// qemu exits. It returns once qemu took the command.
func (vm *VM) Powerdown(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", vm.qmp)
	if err != nil {
		return fmt.Errorf("qemu's QMP socket: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	}
	r := bufio.NewReader(conn)
	// The greeting, then capabilities negotiation, then the command;
	// each command is answered by "return" or "error" (events may come
	// in between).
	if _, err := r.ReadBytes('\n'); err != nil {
		return fmt.Errorf("qemu's QMP greeting: %w", err)
	}
	for _, cmd := range []string{"qmp_capabilities", "system_powerdown"} {
		if _, err := fmt.Fprintf(conn, "{\"execute\":%q}\n", cmd); err != nil {
			return fmt.Errorf("QMP %s: %w", cmd, err)
		}
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return fmt.Errorf("QMP %s: %w", cmd, err)
			}
			var reply struct {
				Return json.RawMessage `json:"return"`
				Error  *struct {
					Desc string `json:"desc"`
				} `json:"error"`
			}
			if err := json.Unmarshal(line, &reply); err != nil {
				return fmt.Errorf("QMP %s: %w", cmd, err)
			}
			if reply.Error != nil {
				return fmt.Errorf("QMP %s: %s", cmd, reply.Error.Desc)
			}
			if reply.Return != nil {
				break
			}
		}
	}
	return nil
}
