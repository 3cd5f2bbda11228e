# Sourced by scripts/*: creates .venv with Python >= 3.12 and installs the
# project with the given extras, again only when pyproject.toml changes.

find_python() {
    local candidate
    for candidate in python3.13 python3.12 /root/.pyenv/versions/3.13*/bin/python3.13 \
                     /root/.pyenv/versions/3.12*/bin/python3.12 "$HOME"/.pyenv/versions/3.1[23]*/bin/python3 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "No Python >= 3.12 found (Django 6 needs it); install python3.12 or python3.13." >&2
    return 1
}

ensure_venv() {
    local extras="$1" python stamp
    if [[ ! -x .venv/bin/python ]]; then
        python=$(find_python)
        echo "Creating .venv with $python" >&2
        "$python" -m venv .venv
        .venv/bin/python -m pip install --quiet --upgrade pip
    fi
    stamp=".venv/.installed-$(printf '%s' "$extras" | tr -c 'a-z0-9' '_')"
    if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
        echo "Installing django_jobs $extras into .venv" >&2
        .venv/bin/python -m pip install --quiet -e "$extras"
        touch "$stamp"
    fi
}
