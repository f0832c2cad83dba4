# Installs Go with a signed go-offline-installer: the same steps as the Ansible role.
#
# Pillar (see pillar.example.sls):
#   go_offline:
#     installer: salt://go-offline/go-offline-installer-linux-amd64   # the file, from the master
#     sha256: <the release's sha256 of that file>
#     org_keys: [salt://go-offline/keys/org.pub]
#     prefix: /usr/local
#     extra_args: ""
{% set cfg = salt['pillar.get']('go_offline', {}) %}
{% set prefix = cfg.get('prefix', '/usr/local') %}
{% set cache = cfg.get('cache_dir', '/var/cache/go-offline-installer') %}
{% set name = cfg['installer'].split('/')[-1] %}
{% set dest = cache ~ '/' ~ name %}

go-offline-trust-dir:
  file.directory:
    - name: /etc/go-offline-installer/trusted-keys
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True

{% for key in cfg.get('org_keys', []) %}
go-offline-trusted-key-{{ loop.index }}:
  file.managed:
    - name: /etc/go-offline-installer/trusted-keys/{{ key.split('/')[-1] }}
    - source: {{ key }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: go-offline-trust-dir
{% endfor %}

# Copied only when missing or different (source_hash is checked by Salt for http(s) sources).
go-offline-installer-file:
  file.managed:
    - name: {{ dest }}
    - source: {{ cfg['installer'] }}
    - source_hash: sha256={{ cfg['sha256'] }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True

# The copy must have the release's sha256 whatever the source (Salt skips source_hash for salt://).
go-offline-installer-sha256:
  cmd.run:
    - name: >-
        echo '{{ cfg['sha256'] }}  {{ dest }}' | sha256sum --check --strict --quiet - &&
        echo && echo 'changed=no comment="sha256 matches the release"'
    - stateful: True
    - require:
      - file: go-offline-installer-file

# The installer decides: it prints one JSON result; `stateful` reports what it says changed.
go-offline-install:
  cmd.run:
    - name: >-
        out=$({{ dest }} --yes --json --prefix {{ prefix }} {{ cfg.get('extra_args', '') }}); rc=$?;
        changed=$(printf '%s' "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("yes" if r["changed"] else "no")' 2>/dev/null || echo no);
        message=$(printf '%s' "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print((r.get("error") or {}).get("message") or r.get("active_version"))' 2>/dev/null);
        echo; echo "changed=$changed comment='go-offline-installer: $message'"; exit $rc
    - stateful: True
    - require:
      - cmd: go-offline-installer-sha256
