# Written by go-offline-installer: puts Go on PATH. Do not edit; re-run the installer instead.
# After it, PREFIX/bin: the go1.N.P names a go.mod can select (GOTOOLCHAIN=local+path).
if not contains -- @TOOLCHAINS_DIR@ $PATH
    set -gx PATH @TOOLCHAINS_DIR@ $PATH
end
if not contains -- @BIN_DIR@ $PATH
    set -gx PATH @BIN_DIR@ $PATH
end
set -l _go_offline_gopath $HOME/go
if set -q GOPATH
    set _go_offline_gopath (string split -m1 : $GOPATH)[1]
end
if not contains -- $_go_offline_gopath/bin $PATH
    set -gx PATH $PATH $_go_offline_gopath/bin
end
