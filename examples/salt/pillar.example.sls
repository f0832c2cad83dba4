go_offline:
  installer: salt://go-offline/go-offline-installer-linux-amd64
  sha256: 0000000000000000000000000000000000000000000000000000000000000000
  org_keys:
    - salt://go-offline/keys/org.pub
  prefix: /usr/local
