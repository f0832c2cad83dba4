# Back to the Go version active before the last install or switch (state.apply go_offline.rollback).
{% set cfg = salt['pillar.get']('go_offline', {}) %}
{% set cache = cfg.get('cache_dir', '/var/cache/go-offline-installer') %}
{% set dest = cache ~ '/' ~ cfg['installer'].split('/')[-1] %}

go-offline-rollback:
  cmd.run:
    - name: >-
        out=$({{ dest }} rollback --yes --json --prefix {{ cfg.get('prefix', '/usr/local') }}); rc=$?;
        changed=$(printf '%s' "$out" | python3 -c 'import json,sys; print("yes" if json.load(sys.stdin)["changed"] else "no")' 2>/dev/null || echo no);
        echo; echo "changed=$changed"; exit $rc
    - stateful: True
