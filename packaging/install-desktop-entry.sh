#!/usr/bin/env bash
# Install (or remove) the XY-Tokenizer Studio menu entry, icon and AppStream metadata for the
# current user, under ${XDG_DATA_HOME:-~/.local/share}.
#
#   packaging/install-desktop-entry.sh                  # pip-installed: finds xytok-studio on PATH
#   packaging/install-desktop-entry.sh --exec PROGRAM   # e.g. a frozen build's executable
#   packaging/install-desktop-entry.sh --resources DIR  # icon and metadata from DIR, not ../resources
#   packaging/install-desktop-entry.sh --uninstall
#
# The entry starts PROGRAM by its absolute path, so it works from the menu even when PROGRAM
# lives in a virtual environment that the desktop session does not have on its PATH.
set -euo pipefail

APP=xy-tokenizer-studio
APP_ID=io.github.xytokenizer.Studio
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RESOURCES="$HERE/../resources"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die() {
    echo "install-desktop-entry: $*" >&2
    exit 1
}

program=""
uninstall=0
while [ $# -gt 0 ]; do
    case "$1" in
        --exec)
            [ $# -ge 2 ] || die "--exec needs the path of the studio executable"
            program="$2"
            shift 2
            ;;
        --resources)
            [ $# -ge 2 ] || die "--resources needs the folder that holds icon.svg and the .desktop file"
            RESOURCES="$2"
            shift 2
            ;;
        --uninstall)
            uninstall=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            die "unknown argument '$1' (see --help)"
            ;;
    esac
done

# destination path <- source file name in $RESOURCES
targets=(
    "applications/$APP.desktop"
    "icons/hicolor/scalable/apps/$APP.svg"
    "icons/hicolor/256x256/apps/$APP.png"
    "icons/hicolor/512x512/apps/$APP.png"
    "metainfo/$APP_ID.metainfo.xml"
)
sources=(
    "$APP.desktop"
    "icon.svg"
    "icon-256.png"
    "icon-512.png"
    "$APP_ID.metainfo.xml"
)

refresh_caches() {
    if command -v update-desktop-database > /dev/null; then
        update-desktop-database -q "$DATA_HOME/applications" || true
    fi
    if command -v gtk-update-icon-cache > /dev/null && [ -f "$DATA_HOME/icons/hicolor/index.theme" ]; then
        gtk-update-icon-cache -q -t "$DATA_HOME/icons/hicolor" || true
    fi
}

if [ "$uninstall" = 1 ]; then
    for target in "${targets[@]}"; do
        if [ -e "$DATA_HOME/$target" ]; then
            rm -f "$DATA_HOME/$target"
            echo "removed $DATA_HOME/$target"
        fi
    done
    refresh_caches
    exit 0
fi

for name in "${sources[@]}"; do
    [ -f "$RESOURCES/$name" ] || die "$RESOURCES/$name is missing: run this script from a checkout or pass --resources FOLDER"
done

if [ -z "$program" ]; then
    program="$(command -v xytok-studio || true)"
    [ -n "$program" ] || die "xytok-studio is not on PATH: install the package (pip install .) in the active environment, or pass --exec PROGRAM"
fi
case "$program" in
    /*) ;;
    *) program="$(cd "$(dirname "$program")" && pwd)/$(basename "$program")" ;;
esac
[ -f "$program" ] && [ -x "$program" ] || die "$program is not an executable file"
case "$program" in
    *[\"\`\$\\]* | *$'\n'*) die "$program contains a quote, backquote, dollar, backslash or newline: move the studio to a plainer path" ;;
esac

# Write each file beside its destination first, then move it into place (no half-written
# entry is ever visible to the desktop).
pending=""
desktop_tmp=""
cleanup() {
    rm -f "$desktop_tmp" "$pending"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

install_file() {
    local source="$1" target="$2"
    mkdir -p "$(dirname "$target")"
    pending="$(mktemp "$target.XXXXXX")"
    cat "$source" > "$pending"
    chmod 644 "$pending"
    if [ -e "$target" ]; then
        echo "replacing $target"
    else
        echo "installing $target"
    fi
    mv -f "$pending" "$target"
    pending=""
}

# Exec= takes a quoted command line where % is doubled; TryExec= takes the plain path.
exec_arg="${program//%/%%}"
sed_exec="${exec_arg//&/\\&}"
sed_exec="${sed_exec//|/\\|}"
sed_try="${program//&/\\&}"
sed_try="${sed_try//|/\\|}"
desktop_tmp="$(mktemp)"
sed -e "s|^Exec=xytok-studio |Exec=\"$sed_exec\" |" \
    -e "s|^TryExec=xytok-studio\$|TryExec=$sed_try|" \
    "$RESOURCES/$APP.desktop" > "$desktop_tmp"
grep -qxF "TryExec=$program" "$desktop_tmp" && grep -qF "Exec=\"$exec_arg\" " "$desktop_tmp" \
    || die "$RESOURCES/$APP.desktop lacks the 'Exec=xytok-studio ...' and 'TryExec=xytok-studio' lines to point at $program"

for i in "${!targets[@]}"; do
    if [ "$i" = 0 ]; then
        source="$desktop_tmp"
    else
        source="$RESOURCES/${sources[$i]}"
    fi
    install_file "$source" "$DATA_HOME/${targets[$i]}"
done

if command -v desktop-file-validate > /dev/null; then
    desktop-file-validate "$DATA_HOME/applications/$APP.desktop"
fi
refresh_caches
echo "XY-Tokenizer Studio is in the applications menu; it starts $program"
