{# Macros for the message of the day. #}
{% import "macros.tpl" greeting %}
{{ greeting(container.name) }}
