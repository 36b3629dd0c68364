#!/usr/bin/env bash
# Data Sharing Manager: download script for share @@JOB_ID@@
# @@FILE_COUNT@@ file(s), @@TOTAL_BYTES@@ bytes. The download links expire @@EXPIRES_TEXT@@.
#
# Needs bash 4.4 or newer, curl and GNU coreutils. Run it with:
#   bash data-download.sh --data-download-path /path/to/existing/folder
# and see --help for the options. The list of files is data at the end of this file: it is
# read, never run, so no file name can run a command.

set -o nounset -o pipefail
umask 022

readonly JOB_ID="@@JOB_ID@@"
readonly EXPIRES_AT_EPOCH=@@EXPIRES_EPOCH@@
readonly EXPIRES_AT_TEXT="@@EXPIRES_TEXT@@"
readonly STAGING=".dsm-partial"
# The file list is a quoted here-document after the final exit: never run, only read.
readonly MANIFEST_START=": <<'__DSM_MANIFEST__'"
readonly MANIFEST_END="__DSM_MANIFEST__"

usage() {
  cat <<'USAGE'
Usage: bash data-download.sh --data-download-path DIR [options]

Downloads every shared file to DIR/<relative path>. DIR must already exist.

Options:
  --data-download-path DIR  where to download (required; the directory must exist)
  --dryrun, --dry-run       print the directories that would be created and the
                            commands that would run; download nothing
  --check-size-only         skip a file whose existing copy has the expected size
  --skip-existing           skip a file that already exists, whatever its size
  --print-summary           print how many files and bytes would be downloaded
                            (after the skip options) and exit
  --parallel N              downloads at a time, 1 to 64 (default: 8)
  -h, --help                show this help and exit

Each file is written under DIR/.../.dsm-partial/ first and moved into place only
once its size (and MD5, where known) is verified; an interrupted download resumes
where it stopped when the script is run again.
USAGE
}

die() {
  printf 'error: %s\n' "$1" >&2
  exit 2
}

note() {
  printf '%s\n' "$1" >&2
}

human() {
  numfmt --to=iec-i --suffix=B -- "$1" 2>/dev/null || printf '%s bytes' "$1"
}

# --- options --------------------------------------------------------------------------------
download_path=""
dryrun=0
check_size_only=0
skip_existing=0
print_summary=0
parallel=8

while (($# > 0)); do
  case "$1" in
    --data-download-path)
      (($# >= 2)) || die "--data-download-path needs a directory"
      download_path=$2
      shift 2
      ;;
    --data-download-path=*)
      download_path=${1#*=}
      shift
      ;;
    --dryrun | --dry-run)
      dryrun=1
      shift
      ;;
    --check-size-only)
      check_size_only=1
      shift
      ;;
    --skip-existing)
      skip_existing=1
      shift
      ;;
    --print-summary)
      print_summary=1
      shift
      ;;
    --parallel)
      (($# >= 2)) || die "--parallel needs a number"
      parallel=$2
      shift 2
      ;;
    --parallel=*)
      parallel=${1#*=}
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      die "unknown option '$1' (see --help)"
      ;;
  esac
done

[[ -n $download_path ]] || die "--data-download-path is required (see --help)"
[[ -d $download_path ]] || die "--data-download-path '$download_path' is not an existing directory; create it first"
if ! [[ $parallel =~ ^[0-9]+$ ]] || ((parallel < 1 || parallel > 64)); then
  die "--parallel must be a number from 1 to 64"
fi

if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  die "this script needs bash 4.4 or newer (this is $BASH_VERSION)"
fi
for tool in curl stat md5sum mv mkdir realpath rm numfmt date; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is needed and was not found (curl, GNU coreutils)"
done
script_file=${BASH_SOURCE[0]}
[[ -f $script_file ]] || die "save this script to a file and run it with: bash FILE --data-download-path DIR"

root=$(cd -- "$download_path" && pwd -P) || die "cannot enter '$download_path'"
now=$(date +%s)
expired=0
if ((now >= EXPIRES_AT_EPOCH)); then
  expired=1
fi

# --- the file list --------------------------------------------------------------------------
# One line per file: size <TAB> md5 or - <TAB> relative path <TAB> URL.
sizes=()
md5s=()
paths=()
urls=()
exec 3<"$script_file"
while IFS= read -r line <&3; do
  [[ $line == "$MANIFEST_START" ]] && break
done
while IFS=$'\t' read -r size md5 path url <&3; do
  [[ $size == "$MANIFEST_END" ]] && break
  [[ -n $size ]] || continue
  sizes+=("$size")
  md5s+=("$md5")
  paths+=("$path")
  urls+=("$url")
done
exec 3<&-
total=${#paths[@]}

# A relative path must stay under the download path: not absolute, no '.', '..' or empty
# segments, no control characters. The service refuses such keys already; this is the
# script's own check.
safe_path() {
  local p=$1
  [[ -n $p && $p != /* && $p != */ && $p != *//* && $p != *[[:cntrl:]]* ]] || return 1
  case "/$p/" in
    */../* | */./*) return 1 ;;
  esac
  return 0
}

# Sizes of existing files, one stat per thousand files rather than one per file.
declare -A existing_size=()
stat_sizes() {
  local -a batch=()
  local file record
  for file in "$@"; do
    batch+=("$file")
    if ((${#batch[@]} == 1000)); then
      while IFS= read -r -d '' record; do
        existing_size["${record#*$'\t'}"]=${record%%$'\t'*}
      done < <(stat --printf '%s\t%n\0' -- "${batch[@]}" 2>/dev/null)
      batch=()
    fi
  done
  if ((${#batch[@]} > 0)); then
    while IFS= read -r -d '' record; do
      existing_size["${record#*$'\t'}"]=${record%%$'\t'*}
    done < <(stat --printf '%s\t%n\0' -- "${batch[@]}" 2>/dev/null)
  fi
}

declare -A unsafe=()
declare -A canonical_dir=()
existing_targets=()
dirs=()
declare -A seen_dir=()
for ((i = 0; i < total; i++)); do
  if ! safe_path "${paths[i]}"; then
    unsafe[$i]=1
    continue
  fi
  target="$root/${paths[i]}"
  [[ -e $target ]] && existing_targets+=("$target")
  dir=${target%/*}
  if [[ -z ${seen_dir[$dir]+x} ]]; then
    seen_dir[$dir]=1
    dirs+=("$dir")
  fi
done
((${#existing_targets[@]} > 0)) && stat_sizes "${existing_targets[@]}"

# Resolve every directory (following any symbolic link already there) before creating it:
# a directory that would land outside the download path is refused.
if ((${#dirs[@]} > 0)); then
  index=0
  while IFS= read -r -d '' resolved; do
    canonical_dir[${dirs[index]}]=$resolved
    index=$((index + 1))
  done < <(realpath -m -z -- "${dirs[@]}")
fi

# --- what to download -----------------------------------------------------------------------
pending=()
skipped=0
skipped_bytes=0
declare -A failure=()
for ((i = 0; i < total; i++)); do
  if [[ -n ${unsafe[$i]+x} ]]; then
    failure[$i]="refused: the path '${paths[i]}' would leave the download folder"
    continue
  fi
  target="$root/${paths[i]}"
  dir=${target%/*}
  resolved=${canonical_dir[$dir]}
  if [[ $resolved != "$root" && $resolved != "$root"/* ]]; then
    failure[$i]="refused: '${dir#"$root"/}' leads outside the download folder (a symbolic link?)"
    continue
  fi
  if [[ -e $target ]]; then
    if ((skip_existing)) || { ((check_size_only)) && [[ ${existing_size[$target]:-} == "${sizes[i]}" ]]; }; then
      skipped=$((skipped + 1))
      skipped_bytes=$((skipped_bytes + sizes[i]))
      continue
    fi
  fi
  pending+=("$i")
done

pending_bytes=0
for i in "${pending[@]}"; do
  pending_bytes=$((pending_bytes + sizes[i]))
done

if ((expired)); then
  note "The download links of this script expired on $EXPIRES_AT_TEXT. Ask the data provider for new links."
else
  note "Share $JOB_ID: $total file(s); links valid until $EXPIRES_AT_TEXT."
fi

if ((print_summary)); then
  printf 'Files to download: %d (%s)\n' "${#pending[@]}" "$(human "$pending_bytes")"
  printf 'Files skipped:     %d (%s)\n' "$skipped" "$(human "$skipped_bytes")"
  printf 'Files refused:     %d\n' "${#failure[@]}"
  printf 'Total bytes:       %d\n' "$pending_bytes"
  exit 0
fi

if ((dryrun)); then
  declare -A shown=()
  for i in "${pending[@]}"; do
    target="$root/${paths[i]}"
    dir=${target%/*}
    if [[ ! -d $dir && -z ${shown[$dir]+x} ]]; then
      shown[$dir]=1
      printf 'mkdir -p -- %q\n' "$dir"
    fi
    # The signature is left out: it is a credential, and the command is shown, not run.
    printf 'curl --fail --continue-at - --output %q %q\n' "$dir/$STAGING/${target##*/}" "${urls[i]%%\?*}?..."
    printf 'mv -f -- %q %q\n' "$dir/$STAGING/${target##*/}" "$target"
  done
  printf 'Dry run: %d file(s) (%s) would be downloaded, %d skipped.\n' "${#pending[@]}" "$(human "$pending_bytes")" "$skipped"
  for i in "${!failure[@]}"; do
    printf 'Would fail: %s\n' "${failure[$i]}"
  done
  exit 0
fi

if ((expired && ${#pending[@]} > 0)); then
  printf 'error: the links expired on %s; nothing was downloaded. Ask the data provider for new links.\n' "$EXPIRES_AT_TEXT" >&2
  exit 3
fi

# --- download -------------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/dsm-download.XXXXXX") || die "cannot create a temporary folder"
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  rm -rf -- "$work"
}
trap cleanup EXIT
trap 'note "Interrupted: run the script again to resume."; exit 130' INT TERM

# These two set a variable instead of printing, so that no file costs a subshell.
# part_of TARGET: the staging file of TARGET, in $part.
part_of() {
  part="${1%/*}/$STAGING/${1##*/}"
}

# curl_quote STRING: STRING as a curl config value (double quotes, backslash escapes), in $quoted.
curl_quote() {
  quoted=${1//\\/\\\\}
  quoted=\"${quoted//\"/\\\"}\"
}

declare -A http_code=()

# One round: split the files over N curl processes, each reusing its connection for many
# files; every transfer resumes a partial staging file if there is one.
download_round() {
  local -a todo=("$@") configs=() staging=()
  local workers=$parallel n=0 i w code name quoted_url
  local -A made=()
  ((workers > ${#todo[@]})) && workers=${#todo[@]}
  # One mkdir for a thousand staging folders, rather than one per file.
  for i in "${todo[@]}"; do
    part_of "$root/${paths[i]}"
    if [[ -z ${made[${part%/*}]+x} ]]; then
      made[${part%/*}]=1
      staging+=("${part%/*}")
    fi
  done
  while ((${#staging[@]} > 0)); do
    mkdir -p -- "${staging[@]:0:1000}" || die "cannot create folders under $root"
    staging=("${staging[@]:1000}")
  done
  for i in "${todo[@]}"; do
    part_of "$root/${paths[i]}"
    if [[ -e $part ]]; then
      stat_sizes "$part"
      if ((${existing_size[$part]:-0} > sizes[i])); then
        rm -f -- "$part"
      elif ((${existing_size[$part]:-0} == sizes[i])); then
        continue # complete already: only needs verifying
      fi
    fi
    w=$((n % workers))
    n=$((n + 1))
    curl_quote "${urls[i]}"
    quoted_url=$quoted
    curl_quote "$part"
    configs[w]+="url = $quoted_url"$'\n'"output = $quoted"$'\n'
  done
  for ((w = 0; w < workers; w++)); do
    [[ -n ${configs[w]:-} ]] || continue
    printf '%s' "${configs[w]}" >"$work/config.$w"
    curl --silent --show-error --fail --continue-at - \
      --retry 5 --retry-delay 1 --retry-connrefused --connect-timeout 30 \
      --write-out '%{http_code}\t%{filename_effective}\n' \
      --config "$work/config.$w" >"$work/result.$w" 2>"$work/errors.$w" &
  done
  wait
  for ((w = 0; w < workers; w++)); do
    [[ -f $work/result.$w ]] || continue
    while IFS=$'\t' read -r code name; do
      http_code[$name]=$code
    done <"$work/result.$w"
    rm -f -- "$work/result.$w" "$work/config.$w"
  done
}

# Size of every staging file, then MD5 where the object's ETag is one; returns the failures.
declare -A md5_of=()
verify() {
  local -a todo=("$@") parts=() hashed=()
  local i record code
  for i in "${todo[@]}"; do
    part_of "$root/${paths[i]}"
    parts+=("$part")
    unset 'existing_size[$part]'
  done
  ((${#parts[@]} > 0)) && stat_sizes "${parts[@]}"
  for i in "${todo[@]}"; do
    part_of "$root/${paths[i]}"
    if [[ ${existing_size[$part]:-missing} == "${sizes[i]}" && ${md5s[i]} != "-" ]]; then
      hashed+=("$part")
    fi
  done
  # MD5s in up to --parallel md5sum processes at once: hashing is the slow part of big files.
  local chunk=$(((${#hashed[@]} + parallel - 1) / parallel)) k=0 running=0
  ((chunk > 1000)) && chunk=1000
  while ((${#hashed[@]} > 0)); do
    md5sum -z -- "${hashed[@]:0:chunk}" >"$work/md5.$k" 2>/dev/null &
    hashed=("${hashed[@]:chunk}")
    k=$((k + 1))
    running=$((running + 1))
    if ((running == parallel)); then
      wait
      running=0
    fi
  done
  wait
  for ((chunk = 0; chunk < k; chunk++)); do
    while IFS= read -r -d '' record; do
      md5_of["${record#*  }"]=${record%%  *}
    done <"$work/md5.$chunk"
    rm -f -- "$work/md5.$chunk"
  done
  verify_failed=()
  for i in "${todo[@]}"; do
    part_of "$root/${paths[i]}"
    code=${http_code[$part]:-}
    if [[ ${existing_size[$part]:-missing} == missing ]]; then
      case "$code" in
        403) failure[$i]="HTTP 403: the link has expired or was altered" ;;
        404) failure[$i]="HTTP 404: the object is no longer there" ;;
        "" | 000) failure[$i]="not downloaded (connection failed)" ;;
        *) failure[$i]="not downloaded (HTTP $code)" ;;
      esac
    elif [[ ${existing_size[$part]} != "${sizes[i]}" ]]; then
      failure[$i]="size ${existing_size[$part]} instead of ${sizes[i]}"
    elif [[ ${md5s[i]} != "-" && ${md5_of[$part]:-} != "${md5s[i]}" ]]; then
      failure[$i]="MD5 ${md5_of[$part]:-none} instead of ${md5s[i]}"
    else
      unset 'failure[$i]'
      continue
    fi
    verify_failed+=("$i")
  done
}

if ((${#pending[@]} > 0)); then
  note "Downloading ${#pending[@]} file(s) ($(human "$pending_bytes")), $parallel at a time, to $root"
  download_round "${pending[@]}"
  verify "${pending[@]}"
  # A second round for what failed on the way (not for links the server refused): a
  # corrupted or short file is fetched again from the start.
  retry=()
  for i in "${verify_failed[@]}"; do
    case "${failure[$i]}" in
      HTTP\ 403* | HTTP\ 404*) ;;
      *)
        part_of "$root/${paths[i]}"
        rm -f -- "$part"
        retry+=("$i")
        ;;
    esac
  done
  if ((${#retry[@]} > 0)); then
    note "Retrying ${#retry[@]} file(s)."
    download_round "${retry[@]}"
    verify "${retry[@]}"
  fi
fi

# Move every verified file into place, one mv per folder (paths hold no newline: see safe_path).
declare -A by_dir=()
downloaded=0
downloaded_bytes=0
for i in "${pending[@]}"; do
  [[ -n ${failure[$i]+x} ]] && continue
  target="$root/${paths[i]}"
  dir=${target%/*}
  part_of "$target"
  by_dir[$dir]+="$part"$'\n'
  downloaded=$((downloaded + 1))
  downloaded_bytes=$((downloaded_bytes + sizes[i]))
done
for dir in "${!by_dir[@]}"; do
  mapfile -t parts < <(printf '%s' "${by_dir[$dir]}")
  while ((${#parts[@]} > 0)); do
    mv -f -t "$dir" -- "${parts[@]:0:1000}" || die "cannot move files into '$dir'"
    parts=("${parts[@]:1000}")
  done
done
# A file with wrong content cannot be resumed: remove it. A short one stays, to resume.
for i in "${!failure[@]}"; do
  if [[ ${failure[$i]} == MD5* ]]; then
    part_of "$root/${paths[i]}"
    rm -f -- "$part"
  fi
done
for dir in "${dirs[@]}"; do
  [[ -d $dir/$STAGING ]] && rmdir -- "$dir/$STAGING" 2>/dev/null
done

printf 'Downloaded: %d file(s), %s\n' "$downloaded" "$(human "$downloaded_bytes")"
printf 'Skipped:    %d file(s), %s\n' "$skipped" "$(human "$skipped_bytes")"
printf 'Failed:     %d file(s)\n' "${#failure[@]}"
if ((${#failure[@]} > 0)); then
  for i in "${!failure[@]}"; do
    printf '  %s: %s\n' "${paths[i]}" "${failure[$i]}" >&2
  done
  if ((expired)); then
    note "The links expired on $EXPIRES_AT_TEXT: ask the data provider for new links."
  fi
  exit 1
fi
exit 0
