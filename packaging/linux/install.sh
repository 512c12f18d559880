#!/bin/sh
# Install Batch Thumbnailer for the current user, no root needed:
#   the app       -> ~/.local/opt/batch-thumbnailer
#   commands      -> ~/.local/bin/batch-thumbnailer, ~/.local/bin/thumbnailer (symlinks)
#   menu entry    -> ~/.local/share/applications/batch-thumbnailer.desktop
#   icons         -> ~/.local/share/icons/hicolor/*/apps/batch-thumbnailer.*
#   completion    -> ~/.local/share/bash-completion/completions/thumbnailer, .../fish/vendor_completions.d/,
#                    .../zsh/site-functions/_thumbnailer (zsh: add that folder to fpath in ~/.zshrc)
#   man page      -> ~/.local/share/man/man1/thumbnailer.1.gz (`man thumbnailer` with ~/.local/bin on PATH)
# Run it from the unpacked archive. Running it again replaces an earlier install.
# ~/.local/opt/batch-thumbnailer/uninstall.sh removes all of it again.
set -eu

APP=batch-thumbnailer
SRC=$(cd "$(dirname "$0")" && pwd)
OPT="$HOME/.local/opt/$APP"
BIN="$HOME/.local/bin"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"

if [ ! -x "$SRC/$APP" ] || [ ! -x "$SRC/thumbnailer" ]; then
    echo "install.sh: $SRC does not hold the app; run install.sh from the unpacked archive" >&2
    exit 1
fi
if [ "$SRC" = "$OPT" ]; then
    echo "install.sh: already installed in $OPT" >&2
    exit 1
fi

mkdir -p "$HOME/.local/opt" "$BIN" "$DATA/applications"
# Copy next to the target first, then swap, so a failed copy never leaves a half-installed app.
rm -rf "$OPT.new"
cp -RP "$SRC" "$OPT.new"
rm -rf "$OPT"
mv "$OPT.new" "$OPT"

for exe in "$APP" thumbnailer; do
    ln -sfn "$OPT/$exe" "$BIN/$exe"
done

# The menu entry starts the app by its full path: ~/.local/bin is not on every desktop session's PATH.
sed -e "s|^Exec=$APP |Exec=\"$OPT/$APP\" |" "$SRC/share/applications/$APP.desktop" \
    > "$DATA/applications/$APP.desktop"
chmod 644 "$DATA/applications/$APP.desktop"

(cd "$SRC/share/icons" && find hicolor -type f) | while read -r icon; do
    mkdir -p "$DATA/icons/$(dirname "$icon")"
    cp "$SRC/share/icons/$icon" "$DATA/icons/$icon"
done

# Shell completion and the man page, where bash-completion, fish and man look for a user's own.
for file in bash-completion/completions/thumbnailer fish/vendor_completions.d/thumbnailer.fish \
    zsh/vendor-completions/_thumbnailer man/man1/thumbnailer.1.gz; do
    target="$DATA/$file"
    case "$file" in zsh/*) target="$DATA/zsh/site-functions/_thumbnailer" ;; esac
    mkdir -p "$(dirname "$target")"
    cp "$SRC/share/$file" "$target"
done

if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$DATA/applications" || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true
fi

echo "Batch Thumbnailer is installed in $OPT"
echo "Start it from the applications menu, or run: $BIN/$APP   (headless: $BIN/thumbnailer --help, man thumbnailer)"
echo "Tab completion of thumbnailer works in new bash and fish shells; for zsh add to ~/.zshrc:"
echo "    fpath+=($DATA/zsh/site-functions)"
case ":$PATH:" in
    *":$BIN:"*) ;;
    *) echo "Note: $BIN is not on your PATH; add it to run the commands by name." ;;
esac
