# Sourced by the build scripts: a Python venv cached outside the repo in a folder whose name holds
# its versions, reused when complete, its python printed as the last line.
#
#   venv_reuse <venv dir> && exit 0
#       prints the venv's python and succeeds when a complete build of it is there;
#   venv_build <script name> <venv dir> <install function>
#       builds it afresh: a venv with the latest pip, then `<install function> <python>`, which
#       installs and checks what the venv is for. Quiet on success, when the venv is stamped
#       complete and its python printed; on failure the log's tail goes to stderr and it fails.

venv_reuse() {
  local py="$1/bin/python"
  [[ -f "$1/.complete" && -x "$py" ]] && echo "$py"
}

venv_build() {
  local name="$1" venv="$2" install="$3"
  local py="$venv/bin/python" log
  log=$(mktemp)
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! {
    python3 -m venv "$venv" &&
      "$py" -m pip install --quiet --upgrade pip &&
      "$install" "$py"
  } >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    rm -f "$log"
    echo "$name: failed, the venv at $venv is incomplete" >&2
    return 1
  fi
  rm -f "$log"
  touch "$venv/.complete"
  echo "$py"
}
