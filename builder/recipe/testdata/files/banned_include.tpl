Welcome to {{ container.name }}.
{% include "motd-extra.tpl" %}
