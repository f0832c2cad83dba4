# Written by go-offline-installer: points Go at the offline module bundle. Do not edit; re-run the installer instead.
# Sums stay verified: GOSUMDB and GONOSUMDB are left as they are.
case "${GOPROXY:-off}" in
    off) export GOPROXY=@PROXY_URL@ ;;
esac
