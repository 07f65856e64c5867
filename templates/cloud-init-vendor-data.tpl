{%- if config_get("cloud-init.vendor-data", "") != "" -%}
{{ config_get("cloud-init.vendor-data", "") }}
{%- elif config_get("user.vendor-data", "") != "" -%}
{{ config_get("user.vendor-data", "") }}
{%- else -%}
{{ properties.default }}
{%- endif %}
