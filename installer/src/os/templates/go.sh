# Written by go-offline-installer: puts Go on PATH. Do not edit; re-run the installer instead.
# GOROOT is deliberately not set: the go command finds it from its own location.
# After it, PREFIX/bin: the go1.N.P names a go.mod can select (GOTOOLCHAIN=local+path).
_go_offline_root_bin=@BIN_DIR@
_go_offline_toolchains=@TOOLCHAINS_DIR@
case ":${PATH}:" in
    *:"$_go_offline_toolchains":*) ;;
    *) export PATH="$_go_offline_toolchains:$PATH" ;;
esac
case ":${PATH}:" in
    *:"$_go_offline_root_bin":*) ;;
    *) export PATH="$_go_offline_root_bin:$PATH" ;;
esac
_go_offline_gopath="${GOPATH:-$HOME/go}"
_go_offline_gopath_bin="${_go_offline_gopath%%:*}/bin"
case ":${PATH}:" in
    *:"$_go_offline_gopath_bin":*) ;;
    *) export PATH="$PATH:$_go_offline_gopath_bin" ;;
esac
unset _go_offline_root_bin _go_offline_toolchains _go_offline_gopath _go_offline_gopath_bin
