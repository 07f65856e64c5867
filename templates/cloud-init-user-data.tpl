{%- if config_get("cloud-init.user-data", "") != "" -%}
{{ config_get("cloud-init.user-data", "") }}
{%- elif config_get("user.user-data", "") != "" -%}
{{ config_get("user.user-data", "") }}
{%- else -%}
{{ properties.default }}
{%- endif %}
