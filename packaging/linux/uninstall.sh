#!/bin/sh
# Remove what install.sh put into ~/.local (the app, its two command links, menu entry, icons, shell completion
# and man page).
set -eu

APP=batch-thumbnailer
OPT="$HOME/.local/opt/$APP"
BIN="$HOME/.local/bin"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"

for exe in "$APP" thumbnailer; do
    # Only our own links: a command of the same name from elsewhere stays.
    if [ -L "$BIN/$exe" ] && [ "$(readlink "$BIN/$exe")" = "$OPT/$exe" ]; then
        rm -f "$BIN/$exe"
    fi
done
rm -f "$DATA/applications/$APP.desktop"
rm -f "$DATA/bash-completion/completions/thumbnailer" "$DATA/fish/vendor_completions.d/thumbnailer.fish" \
    "$DATA/zsh/site-functions/_thumbnailer" "$DATA/man/man1/thumbnailer.1.gz"
find "$DATA/icons/hicolor" -path "*/apps/$APP.*" -type f -exec rm -f {} + 2>/dev/null || true
rm -rf "$OPT"

if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$DATA/applications" || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -d "$DATA/icons/hicolor" ]; then
    gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true
fi
echo "Batch Thumbnailer is removed from $OPT"
