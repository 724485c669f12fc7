# Sourced by the scripts: `need_packages PKG...` installs the Debian packages that are
# missing (apt-get update first), as root or through sudo, and does nothing when all
# are present.
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
}

# Fonts the window falls back on for the scripts egui's own fonts lack: CJK (Noto Sans
# CJK), most alphabets (DejaVu Sans) and every char of the Basic Multilingual Plane
# (GNU Unifont). The window and the tests read them from these packages' paths.
FONT_PACKAGES=(fonts-noto-cjk fonts-dejavu-core fonts-unifont)
