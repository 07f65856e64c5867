Hostname: {{ container.name }
