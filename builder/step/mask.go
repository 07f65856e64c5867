package step

// Masking says which values Mask hides and what shows in their place.
type Masking struct {
	// Sensitive lists the recipe attributes computed from sensitive
	// values: a field that carries one is masked whole.
	Sensitive []string
	// HoldsSecret, when set, reports whether a text holds a secret's
	// text (a script that prints nonsensitive(var.token), say); each
	// such value, or item of a list, is masked too.
	HoldsSecret func(text string) bool
	// Replace gives what shows instead of a masked value: a whole
	// field's value when the field is sensitive, else the one value or
	// list item that holds a secret.
	Replace func(Value) Value
}

// Mask returns fields with every sensitive value replaced as m says.
// The cache key masks with a digest (its history keeps no secret), and
// inspect with recipe.SensitiveText; both ask this one function which
// values to hide.
func Mask(fields []Field, m Masking) Fields {
	out := make(Fields, len(fields))
	for i, f := range fields {
		out[i] = f
		if v, masked := m.value(f); masked {
			out[i].Value, out[i].Masked = v, true
		}
	}
	return out
}

// value returns the field's masked value, and whether it masked any.
func (m Masking) value(f Field) (Value, bool) {
	for _, attr := range m.Sensitive {
		if f.Carries(attr) {
			return m.Replace(f.Value), true
		}
	}
	if m.HoldsSecret == nil {
		return f.Value, false
	}
	list, ok := f.Value.(List)
	if !ok || list == nil {
		if m.HoldsSecret(f.Value.String()) {
			return m.Replace(f.Value), true
		}
		return f.Value, false
	}
	var masked List
	for i, item := range list {
		if !m.HoldsSecret(item.String()) {
			continue
		}
		if masked == nil {
			masked = append(List(nil), list...)
		}
		masked[i] = m.Replace(item)
	}
	return masked, masked != nil
}
