# Sourced by scripts/*: creates the virtualenv and installs the project with the given extras, again
# only when pyproject.toml changes.
#
# By default that is .venv, with Python >= 3.12 and the newest Django 6.x. DJANGO_JOBS_DJANGO=5.2 (or
# 6.0, 6.1...; scripts/test --django sets it) picks that Django release series instead, in a virtualenv
# of its own, .venv-django52 and so on; for 5.2 with the django-tasks backport (the `django52` extra) and
# the oldest Python we support, 3.11, when there is one.

django_series="${DJANGO_JOBS_DJANGO:-}"
if [[ -n $django_series ]]; then
    if [[ ! $django_series =~ ^[0-9]+\.[0-9]+$ ]]; then
        echo "DJANGO_JOBS_DJANGO / --django takes a release series such as 5.2 or 6.0, not '$django_series'." >&2
        exit 2
    fi
    VENV=".venv-django${django_series/./}"
else
    VENV=.venv
fi

# find_python [MINOR...]: the first interpreter found among python3.MINOR, in the order given (by default
# 13 12: Django 6 needs Python 3.12).
find_python() {
    local minor candidate
    (($#)) || set -- 13 12
    for minor in "$@"; do
        for candidate in "python3.$minor" /root/.pyenv/versions/3."$minor".*/bin/python3."$minor" \
                         "$HOME"/.pyenv/versions/3."$minor".*/bin/python3 python3; do
            if command -v "$candidate" >/dev/null 2>&1 &&
               "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != (3, $minor))" 2>/dev/null; then
                command -v "$candidate"
                return 0
            fi
        done
    done
    echo "No Python 3.$* found; Django ${django_series:-6} needs one of them." >&2
    return 1
}

ensure_venv() {
    local extras="$1" python stamp pins=()
    if [[ $django_series == 5.2 ]]; then
        case $extras in
        *"]") extras="${extras%]},django52]" ;;
        *) extras="$extras[django52]" ;;
        esac
    fi
    [[ -n $django_series ]] && pins=("django==$django_series.*")
    if [[ ! -x $VENV/bin/python ]]; then
        if [[ $django_series == 5.2 ]]; then
            python=$(find_python 11 12 13)
        else
            python=$(find_python 13 12)
        fi
        echo "Creating $VENV with $python" >&2
        "$python" -m venv "$VENV"
        "$VENV"/bin/python -m pip install --quiet --upgrade pip
    fi
    stamp="$VENV/.installed-$(printf '%s' "$extras" | tr -c 'a-z0-9' '_')"
    if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
        echo "Installing django_jobs $extras ${pins[*]} into $VENV" >&2
        "$VENV"/bin/python -m pip install --quiet -e "$extras" "${pins[@]}"
        touch "$stamp"
    fi
}
