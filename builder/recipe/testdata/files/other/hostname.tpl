{{ container.name }}.local
