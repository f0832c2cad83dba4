# Written by go-offline-installer: points Go at the offline module bundle. Do not edit; re-run the installer instead.
# Sums stay verified: GOSUMDB, unless set, names the checksum database of the bundle, which that
# proxy serves; GONOSUMDB is left as it is.
case "${GOPROXY:-off}" in
    off)
        export GOPROXY=@PROXY_URL@
        case "${GOSUMDB:-}" in
            '') export GOSUMDB=@SUMDB@ ;;
        esac
        ;;
esac
