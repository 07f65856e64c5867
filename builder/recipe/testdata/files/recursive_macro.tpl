{# A countdown that never stops: n is never lowered. #}
{% macro countdown(n) %}{{ n }} {% if n %}{{ countdown(n) }}{% endif %}{% endmacro %}
{{ countdown(3) }}
