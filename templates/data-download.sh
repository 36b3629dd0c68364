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
# A share link (the service fetches each file for the script, until the link expires or is
# revoked), or empty: each file has a presigned link of its own in the file list.
readonly SHARE_URL="@@SHARE_URL@@"
readonly STAGING=".dsm-partial"
readonly MD5_LIST="checksums.md5"
readonly SHA256_LIST="checksums.sha256"
# The file list is a quoted here-document after the final exit: never run, only read. It
# starts on line MANIFEST_LINE, so the script's own lines are skipped without reading each.
readonly MANIFEST_START=": <<'__DSM_MANIFEST__'"
readonly MANIFEST_END="__DSM_MANIFEST__"
readonly MANIFEST_LINE=@@MANIFEST_LINE@@

usage() {
  cat <<'USAGE'
Usage: bash data-download.sh --data-download-path DIR [options]

Downloads every shared file to DIR/<relative path>, checks each one against its
SHA-256 (or MD5) checksum, and writes checksums.sha256 and checksums.md5 into DIR:
run `sha256sum -c checksums.sha256` (or `md5sum -c checksums.md5`) in DIR to check
the files again later. DIR must already exist.

Options:
  --data-download-path DIR  where to download (required; the directory must exist)
  --dryrun, --dry-run       print the directories that would be created and the
                            commands that would run; download and write nothing
  --check-size-only         skip a file whose existing copy has the expected size,
                            without checking its content
  --skip-existing           skip a file that already exists, whatever its size or
                            content
  --print-summary           print how many files and bytes would be downloaded
                            (after the skip options) and exit
  --verify-only             download nothing: check the files in DIR against the
                            share's checksums and report missing files, files
                            that differ and files the share does not hold; exits
                            1 if there is any (with --print-summary: the counts
                            only, not each file)
  --parallel N              downloads (and checksum processes) at a time, 1 to 64
                            (default: 8)
  --no-space-check          download even if the files still to fetch do not fit
                            in the free space under DIR (see below)
  --no-receipt              do not send the data provider the summary of what was
                            downloaded and verified (share links only)
  -h, --help                show this help and exit

Each file is written under DIR/.../.dsm-partial/ first and moved into place only
once its size and checksum are verified; an interrupted download resumes where it
stopped when the script is run again, and the whole file is checked once complete.
A file already in DIR is checked against its checksum, and downloaded again only
if it differs (or if the share has no checksum for it). A file the share has no
checksum for is checked by its size only; the summary counts them.

Before downloading, the script compares the size of the files still to fetch
(those not already in DIR with their checksum; a resumed file counts whole) with
the space `df -Pk DIR` says is available. If they do not fit it stops with exit
code 4, naming both sizes, and writes nothing; --no-space-check downloads anyway.

With a share link, every file is fetched through the data provider's service, which
records each download. If the share is revoked or expires the script stops: files
not yet downloaded fail with the provider's message, and nothing partial is kept.
At the end the script sends the provider its summary (files verified, failed,
skipped; bytes), unless --no-receipt is given. Exit codes: 0 all done, 1 some files
failed, 2 usage error, 3 the share expired, 4 not enough space, 5 the share was
revoked.
USAGE
}

die() {
  printf 'error: %s\n' "$1" >&2
  exit 2
}

note() {
  printf '%s\n' "$1" >&2
}

# human BYTES: BYTES as KiB, MiB, ... with one decimal below ten, in $hr (no subshell).
human() {
  local -a units=(B KiB MiB GiB TiB PiB EiB)
  local n=$1 unit=0 div=1 tenths
  while ((n / div >= 1024 && unit < 6)); do
    div=$((div * 1024))
    unit=$((unit + 1))
  done
  tenths=$(((n * 10 + div - 1) / div))
  if ((unit == 0)); then
    hr="${n}B"
  elif ((tenths < 100)); then
    hr="$((tenths / 10)).$((tenths % 10))${units[unit]}"
  else
    hr="$(((n + div - 1) / div))${units[unit]}"
  fi
}

# --- options --------------------------------------------------------------------------------
download_path=""
dryrun=0
check_size_only=0
skip_existing=0
print_summary=0
verify_only=0
no_space_check=0
no_receipt=0
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
    --verify-only)
      verify_only=1
      shift
      ;;
    --no-space-check)
      no_space_check=1
      shift
      ;;
    --no-receipt)
      no_receipt=1
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
if ((verify_only)); then
  ((dryrun)) && die "--verify-only downloads nothing already: leave out --dryrun"
  ((check_size_only || skip_existing)) && die "--verify-only checks every file: leave out --check-size-only and --skip-existing"
fi

if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  die "this script needs bash 4.4 or newer (this is $BASH_VERSION)"
fi
tools=(stat md5sum sha256sum mv mkdir mktemp realpath rm rmdir sort)
if ((verify_only)); then
  tools+=(find)
else
  tools+=(curl)
fi
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is needed and was not found (curl, GNU coreutils)"
done
script_file=${BASH_SOURCE[0]}
[[ -f $script_file ]] || die "save this script to a file and run it with: bash FILE --data-download-path DIR"

# (The service puts the link in when it serves the script; a copy taken from elsewhere has
# the placeholder still.)
if [[ $SHARE_URL == @@* ]]; then
  die "this copy of the script names no share link: download the script from the link you were given"
fi
links="links"
refused_403="the link has expired or was altered"
if [[ -n $SHARE_URL ]]; then
  links="share link"
  refused_403="the share link was refused (revoked or expired?)"
fi

root=$(cd -- "$download_path" && pwd -P) || die "cannot enter '$download_path'"
printf -v now '%(%s)T' -1
expired=0
if ((now >= EXPIRES_AT_EPOCH)); then
  expired=1
fi

# --- the file list --------------------------------------------------------------------------
# One line per file: size <TAB> md5 or - <TAB> sha256 or - <TAB> relative path <TAB> URL.
# A relative path must stay under the download path: not absolute, no '.', '..' or empty
# segments, no control characters. The service refuses such keys already, and writes only
# plain numbers and lower-case hex; these are the script's own checks.
sizes=()
md5s=()
shas=()
paths=()
urls=()
declare -A refused=()
declare -A size_of=() # path -> size, from stat_sizes
existing_targets=()
dirs=()
declare -A seen_dir=()
total=0
# find_manifest: read fd 3 up to the file list's first line; fails if there is none.
find_manifest() {
  local line
  while IFS= read -r line <&3; do
    [[ $line == "$MANIFEST_START" ]] && return 0
  done
  return 1
}
exec 3<"$script_file"
mapfile -t -n $((MANIFEST_LINE - 1)) -u 3 code
if ! find_manifest; then
  exec 3<"$script_file" # an edited script: look from the start
  find_manifest || die "the list of files is missing from this script"
fi
unset code
safe=()
while IFS=$'\t' read -r size md5 sha path url <&3; do
  [[ $size == "$MANIFEST_END" ]] && break
  [[ -n $size ]] || continue
  i=$((total++))
  # (Few commands per line: in bash each one costs, and a share may have many files.)
  sizes[i]=$size md5s[i]=$md5 shas[i]=$sha paths[i]=$path urls[i]=${url:-}
  if [[ $size == *[!0-9]* || $size == 0?* || ($md5 != - && (${#md5} != 32 || $md5 == *[!0-9a-f]*)) ||
    ($sha != - && (${#sha} != 64 || $sha == *[!0-9a-f]*)) ||
    (-z $SHARE_URL && ${url:-} != http://* && ${url:-} != https://*) ||
    (-n $SHARE_URL && (-z ${url:-} || ${url:-} == *[!0-9]*)) ]]; then
    sizes[i]=0 refused[$i]="refused: a malformed line in the file list"
    continue
  fi
  if [[ -z $path || $path == /* || $path == */ || $path == *//* || $path == *[[:cntrl:]]* ||
    /$path/ == */../* || /$path/ == */./* ]]; then
    refused[$i]="refused: the path '$path' would leave the download folder"
    continue
  fi
  [[ -n $SHARE_URL ]] && urls[i]=$SHARE_URL/files/$url
  safe+=("$i")
  target=$root/$path
  [[ -e $target ]] && existing_targets+=("$target")
  dir=${target%/*}
  [[ -n ${seen_dir[$dir]+x} ]] || seen_dir[$dir]=1 dirs+=("$dir")
done
exec 3<&-

# stat_sizes FILE...: the size of each FILE that exists (following links) into size_of[FILE],
# one stat per thousand files rather than one per file.
stat_sizes() {
  local record start
  for ((start = 1; start <= $#; start += 1000)); do
    while IFS= read -r -d '' record; do
      size_of["${record#*$'\t'}"]=${record%%$'\t'*}
    done < <(stat -L --printf '%s\t%n\0' -- "${@:start:1000}" 2>/dev/null)
  done
}
((${#existing_targets[@]} > 0)) && stat_sizes "${existing_targets[@]}"

# Resolve every directory, and the staging folder in it (following any symbolic link already
# there), before creating them: one that would land outside the download path is refused.
declare -A bad_dir=()
if ((${#dirs[@]} > 0)); then
  resolving=()
  for dir in "${dirs[@]}"; do
    resolving+=("$dir" "$dir/$STAGING")
  done
  index=0
  while IFS= read -r -d '' resolved; do
    dir=${dirs[index / 2]}
    if [[ $resolved != "$root" && $resolved != "$root"/* && -z ${bad_dir[$dir]+x} ]]; then
      # Even entries are folders, odd ones their staging folders (used only by downloads).
      if ((index % 2 == 0)); then
        bad_dir[$dir]="refused: '${dir#"$root"/}' leads outside the download folder (a symbolic link?)"
      elif ((!verify_only)); then
        bad_dir[$dir]="refused: '${dir#"$root"/}/$STAGING' leads outside the download folder (a symbolic link?)"
      fi
    fi
    index=$((index + 1))
  done < <(realpath -m -z -- "${resolving[@]}")
fi

# --- what to do with each file --------------------------------------------------------------
# pending: to download. recheck: already here with the expected size: checked against its
# checksum, downloaded again only if it differs. A file the share has no checksum for cannot
# be checked, so an existing copy is downloaded again unless a skip option says otherwise.
declare -A failure=()
for i in "${!refused[@]}"; do
  failure[$i]=${refused[$i]}
done
if ((${#bad_dir[@]} > 0)); then
  kept=()
  for i in "${safe[@]}"; do
    dir=$root/${paths[i]}
    dir=${dir%/*}
    if [[ -n ${bad_dir[$dir]+x} ]]; then
      failure[$i]=${bad_dir[$dir]}
    else
      kept+=("$i")
    fi
  done
  safe=("${kept[@]}")
fi
pending=()
pending_bytes=0
recheck=()
skipped=0
skipped_bytes=0
size_only=0
parts=()
md5_lines=()
sha_lines=()
declare -A list_clash=()
for i in "${safe[@]}"; do
  path=${paths[i]} target=$root/${paths[i]}
  parts[i]=${target%/*}/$STAGING/${target##*/}
  # The checksum lists as md5sum and sha256sum write them: a name with a backslash is escaped.
  if [[ $path == *\\* ]]; then
    [[ ${md5s[i]} != - ]] && md5_lines+=("\\${md5s[i]}  ${path//\\/\\\\}")
    [[ ${shas[i]} != - ]] && sha_lines+=("\\${shas[i]}  ${path//\\/\\\\}")
  else
    [[ $path == checksums.* ]] && list_clash[$path]=1
    [[ ${md5s[i]} != - ]] && md5_lines+=("${md5s[i]}  $path")
    [[ ${shas[i]} != - ]] && sha_lines+=("${shas[i]}  $path")
  fi
  if [[ -n ${size_of[$target]+x} ]]; then
    if ((skip_existing)) || { ((check_size_only)) && [[ ${size_of[$target]} == "${sizes[i]}" ]]; }; then
      skipped=$((skipped + 1))
      skipped_bytes=$((skipped_bytes + sizes[i]))
      continue
    fi
    if [[ ${size_of[$target]} == "${sizes[i]}" && ${shas[i]}${md5s[i]} != -- ]]; then
      recheck+=("$i")
      continue
    fi
  fi
  pending+=("$i")
  ((pending_bytes += sizes[i]))
  [[ ${shas[i]}${md5s[i]} == -- ]] && size_only=$((size_only + 1))
done
recheck_bytes=0
for i in "${recheck[@]}"; do
  recheck_bytes=$((recheck_bytes + sizes[i]))
done
skip_note=""
if ((skipped > 0)); then
  skip_note=", unchecked (--skip-existing)"
  ((skip_existing)) || skip_note=", unchecked (--check-size-only: same size)"
fi

if ((expired)); then
  note "The download $links of this script expired on $EXPIRES_AT_TEXT. Ask the data provider for new links."
else
  note "Share $JOB_ID: $total file(s); $links valid until $EXPIRES_AT_TEXT."
fi

if ((print_summary && !verify_only)); then
  human "$pending_bytes"
  printf 'Files to download: %d (%s)\n' "${#pending[@]}" "$hr"
  human "$recheck_bytes"
  printf 'Files to check:    %d (%s), already here: downloaded again only if they differ\n' "${#recheck[@]}" "$hr"
  human "$skipped_bytes"
  printf 'Files skipped:     %d (%s)%s\n' "$skipped" "$hr" "$skip_note"
  printf 'Files refused:     %d\n' "${#failure[@]}"
  printf 'No checksum:       %d file(s) to download, to be checked by size only\n' "$size_only"
  printf 'Total bytes:       %d\n' "$pending_bytes"
  exit 0
fi

# --- free space -----------------------------------------------------------------------------
# free_space: the KiB available under the download path, as POSIX df says, in $free_kib;
# fails when df cannot tell. The last line is the file system's (a long name does not wrap
# with -P); its fourth number from the right of the name is the available space.
free_space() {
  local out line pattern='[[:space:]]([0-9]+)[[:space:]]+([0-9]+)[[:space:]]+([0-9]+)[[:space:]]+([0-9]+%|-)[[:space:]]+/'
  out=$(df -Pk -- "$root" 2>/dev/null) || return 1
  line=${out##*$'\n'}
  [[ $line =~ $pattern ]] || return 1
  free_kib=${BASH_REMATCH[3]}
}
# The files still to download must fit, or nothing is written: pending (not in place, or in
# place with another size) counts whole; the files in place with their size are checked, and
# one that differs is removed before it is fetched again, so it needs no more room.
space_problem=""
if ((!no_space_check && !verify_only && !expired && pending_bytes > 0)); then
  human "$pending_bytes"
  needed=$hr
  if ! free_space; then
    space_problem="cannot read the free space under $root (df -Pk failed); the download needs $needed. Run again with --no-space-check to download without checking"
  elif (((pending_bytes + 1023) / 1024 > free_kib)); then
    human $((free_kib * 1024))
    space_problem="not enough space under $root: the download needs $needed (${#pending[@]} file(s)) and only $hr is available. Free some space or choose another --data-download-path, or run again with --no-space-check to download anyway"
  fi
fi

if ((dryrun)); then
  # tool_of I: the command that checks file I, in $tool; empty when the share has no checksum.
  tool_of() {
    tool=""
    if [[ ${shas[$1]} != - ]]; then
      tool=sha256sum
    elif [[ ${md5s[$1]} != - ]]; then
      tool=md5sum
    fi
  }
  for i in "${recheck[@]}"; do
    tool_of "$i"
    printf '%s -- %q\n' "$tool" "$root/${paths[i]}"
  done
  declare -A shown=()
  for i in "${pending[@]}"; do
    target="$root/${paths[i]}"
    dir=${target%/*}
    if [[ ! -d $dir && -z ${shown[$dir]+x} ]]; then
      shown[$dir]=1
      printf 'mkdir -p -- %q\n' "$dir"
    fi
    # The signature is left out: it is a credential, and the command is shown, not run.
    if [[ -n $SHARE_URL ]]; then
      # The link's token is a credential too: the command shows where it goes, not the link.
      printf 'curl --fail --location --continue-at - --output %q %q\n' "${parts[i]}" "<share link>/files/${urls[i]##*/}"
    else
      printf 'curl --fail --continue-at - --output %q %q\n' "${parts[i]}" "${urls[i]%%\?*}?..."
    fi
    tool_of "$i"
    [[ -n $tool ]] && printf '%s -- %q\n' "$tool" "${parts[i]}"
    printf 'mv -f -- %q %q\n' "${parts[i]}" "$target"
  done
  human "$pending_bytes"
  printf 'Dry run: %d file(s) (%s) would be downloaded, %d checked, %d skipped.\n' \
    "${#pending[@]}" "$hr" "${#recheck[@]}" "$skipped"
  ((${#md5_lines[@]} > 0)) && printf 'Would write %s (%d file(s))\n' "$root/$MD5_LIST" "${#md5_lines[@]}"
  ((${#sha_lines[@]} > 0)) && printf 'Would write %s (%d file(s))\n' "$root/$SHA256_LIST" "${#sha_lines[@]}"
  for ((i = 0; i < total; i++)); do
    [[ -n ${failure[$i]+x} ]] && printf 'Would fail: %s\n' "${failure[$i]}"
  done
  [[ -n $space_problem ]] && printf 'Would stop: %s.\n' "$space_problem"
  exit 0
fi
if [[ -n $space_problem ]]; then
  printf 'error: %s. Nothing was downloaded.\n' "$space_problem" >&2
  exit 4
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dsm-download.XXXXXX") || die "cannot create a temporary folder"
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  rm -rf -- "$work"
}
trap cleanup EXIT
trap 'note "Interrupted: run the script again to resume."; exit 130' INT TERM

# A share link answers each file with a redirect to the storage; a 429 (too many requests)
# is retried after the Retry-After it gives, which curl honours.
link_options=()
[[ -n $SHARE_URL ]] && link_options=(--location)

# link_refusal: when the share link no longer serves this share (revoked: 403, expired: 410,
# unknown: 404), the service's message in $link_message and the script's exit code in
# $link_exit; fails when the link still serves it (or cannot be asked). A 429 is asked again
# after its Retry-After (curl starts the answer's file afresh), never taken for an answer.
link_refusal() {
  local code
  rm -f -- "$work/link-state"
  code=$(curl --silent --show-error --connect-timeout 30 --max-time 60 --retry 5 \
    --retry-delay 1 --output "$work/link-state" --write-out '%{http_code}' -- "$SHARE_URL/" \
    2>/dev/null) || return 1
  link_message=""
  [[ -s $work/link-state ]] && link_message=$(<"$work/link-state")
  case "$code" in
    403) link_exit=5 ;;
    410) link_exit=3 ;;
    404) link_exit=5 ;;
    *) return 1 ;;
  esac
  link_message=${link_message//[[:cntrl:]]/ }
  return 0
}

# --- workers: curl, then checksums ----------------------------------------------------------
# The files are split over up to --parallel workers. Each runs one curl over its list of
# downloads (reusing its connection), then sha256sum and md5sum over its list of files to check,
# a thousand files per process: hashing starts as soon as a worker's downloads are done, while
# the others still download, and no file costs a process of its own.
workers=0
cfg_fd=()
sha_fd=()
md5_fd=()
# open_lists N: N workers' empty lists, open for writing.
open_lists() {
  local w fd
  workers=$1
  for ((w = 0; w < workers; w++)); do
    exec {fd}>"$work/config.$w"
    cfg_fd[w]=$fd
    exec {fd}>"$work/sha256sum.$w"
    sha_fd[w]=$fd
    exec {fd}>"$work/md5sum.$w"
    md5_fd[w]=$fd
    : >"$work/result.$w"
  done
}
close_lists() {
  local w fd
  for ((w = 0; w < workers; w++)); do
    for fd in "${cfg_fd[w]}" "${sha_fd[w]}" "${md5_fd[w]}"; do
      exec {fd}>&-
    done
  done
}
# worker W, run in the background: its downloads, then its checksums, into $work.
worker() {
  local w=$1 tool start
  local -a files
  if [[ -s $work/config.$w ]]; then
    curl --silent --show-error --fail --continue-at - "${link_options[@]}" \
      --retry 5 --retry-delay 1 --retry-connrefused --connect-timeout 30 \
      --write-out '%{http_code}\t%{filename_effective}\n' \
      --config "$work/config.$w" >"$work/result.$w" 2>"$work/errors.$w"
  fi
  for tool in sha256sum md5sum; do
    mapfile -d '' -t files <"$work/$tool.$w"
    # With -z: 'checksum  name' and NUL, the name as given, unescaped.
    for ((start = 0; start < ${#files[@]}; start += 1000)); do
      "$tool" -z -- "${files[@]:start:1000}" 2>/dev/null
    done >"$work/hash.$tool.$w"
  done
}
# run_workers: start every worker, wait for all, and read their checksums into digest[FILE].
declare -A digest=()
run_workers() {
  local w tool record
  close_lists
  for ((w = 0; w < workers; w++)); do
    worker "$w" &
  done
  wait
  digest=()
  for ((w = 0; w < workers; w++)); do
    for tool in sha256sum md5sum; do
      while IFS= read -r -d '' record; do
        digest["${record#*  }"]=${record%%  *}
      done <"$work/hash.$tool.$w"
    done
  done
}

# check_sum I FILE: whether FILE (hashed by the workers) has file I's checksum; if not, why,
# in $reason.
check_sum() {
  local got=${digest[$2]:-}
  if [[ ${shas[$1]} != - ]]; then
    [[ $got == "${shas[$1]}" ]] && return 0
    reason="SHA-256 differs: expected ${shas[$1]}, got ${got:-nothing (unreadable)}"
  else
    [[ $got == "${md5s[$1]}" ]] && return 0
    reason="MD5 differs: expected ${md5s[$1]}, got ${got:-nothing (unreadable)}"
  fi
  return 1
}

# rm_batch FILE...: remove FILEs, a thousand per rm.
rm_batch() {
  local start
  for ((start = 1; start <= $#; start += 1000)); do
    rm -f -- "${@:start:1000}"
  done
}

# Check the files already in place that have the expected size and a checksum: $rechecked
# holds the ones that match; differing[I] says why the others do not.
rechecked=()
declare -A differing=()
if ((${#recheck[@]} > 0)); then
  if ((!verify_only)); then
    human "$recheck_bytes"
    note "Checking ${#recheck[@]} file(s) already in $root ($hr)."
  fi
  open_lists $((${#recheck[@]} < parallel ? ${#recheck[@]} : parallel))
  k=0
  for i in "${recheck[@]}"; do
    if [[ ${shas[i]} != - ]]; then
      printf '%s\0' "$root/${paths[i]}" >&"${sha_fd[k % workers]}"
    else
      printf '%s\0' "$root/${paths[i]}" >&"${md5_fd[k % workers]}"
    fi
    k=$((k + 1))
  done
  run_workers
  for i in "${recheck[@]}"; do
    if check_sum "$i" "$root/${paths[i]}"; then
      rechecked+=("$i")
    else
      differing[$i]=$reason
    fi
  done
fi

# --- --verify-only --------------------------------------------------------------------------
if ((verify_only)); then
  # report PATH PROBLEM: one line per problem, left out with --print-summary.
  report() {
    ((print_summary)) || printf '  %s: %s\n' "$1" "$2"
  }
  good=0
  good_bytes=0
  good_by_size=0
  missing=0
  differ=0
  extra=0
  fetch_bytes=0
  for ((i = 0; i < total; i++)); do
    if [[ -n ${failure[$i]+x} ]]; then
      report "${paths[i]}" "${failure[$i]}"
      continue
    fi
    target=$root/${paths[i]}
    if [[ -n ${differing[$i]+x} ]]; then
      report "${paths[i]}" "${differing[$i]}"
    elif [[ -z ${size_of[$target]+x} ]]; then
      report "${paths[i]}" "missing"
      missing=$((missing + 1))
      fetch_bytes=$((fetch_bytes + sizes[i]))
      continue
    elif [[ ${size_of[$target]} != "${sizes[i]}" ]]; then
      report "${paths[i]}" "size ${size_of[$target]} instead of ${sizes[i]}"
    else
      # As in the share: by its checksum, or by its size where the share has no checksum.
      good=$((good + 1))
      good_bytes=$((good_bytes + sizes[i]))
      [[ ${shas[i]}${md5s[i]} == -- ]] && good_by_size=$((good_by_size + 1))
      continue
    fi
    differ=$((differ + 1))
    fetch_bytes=$((fetch_bytes + sizes[i]))
  done
  # Files the share does not hold: all but the checksum lists, the staging folders and this
  # script (should it be saved in the folder).
  declare -A in_share=()
  for i in "${safe[@]}"; do
    in_share[${paths[i]}]=1
  done
  own_script=$(realpath -- "$script_file")
  while IFS= read -r -d '' found; do
    relative=${found#"$root"/}
    [[ -n ${in_share[$relative]+x} || $relative == "$MD5_LIST" || $relative == "$SHA256_LIST" ||
      $found == "$own_script" ]] && continue
    report "$relative" "extra: not in this share"
    extra=$((extra + 1))
  done < <(find "$root" -mindepth 1 \( -type d -name "$STAGING" -prune \) -o ! -type d -print0)
  human "$good_bytes"
  printf 'Checked:    %d file(s), %s, as in the share (%d by size only: no checksum)\n' \
    "$good" "$hr" "$good_by_size"
  printf 'Missing:    %d file(s)\n' "$missing"
  printf 'Differ:     %d file(s)\n' "$differ"
  printf 'Extra:      %d file(s) not in this share\n' "$extra"
  printf 'Refused:    %d file(s)\n' "${#failure[@]}"
  if ((missing + differ + extra + ${#failure[@]} > 0)); then
    if ((missing + differ > 0)); then
      human "$fetch_bytes"
      printf 'To fix:     run without --verify-only to download %d file(s), %s\n' \
        "$((missing + differ))" "$hr"
    fi
    exit 1
  fi
  exit 0
fi

# --- download -------------------------------------------------------------------------------
uptodate=${#rechecked[@]}
uptodate_bytes=0
for i in "${rechecked[@]}"; do
  uptodate_bytes=$((uptodate_bytes + sizes[i]))
done
# A copy in place that differs is removed now: no later run (with --skip-existing, say) may
# take it for the shared file.
if ((${#differing[@]} > 0)); then
  wrong=()
  for i in "${recheck[@]}"; do
    [[ -n ${differing[$i]+x} ]] || continue
    note "${paths[i]}: ${differing[$i]}: removed, downloading it again"
    wrong+=("$root/${paths[i]}")
    pending+=("$i")
    pending_bytes=$((pending_bytes + sizes[i]))
  done
  rm_batch "${wrong[@]}"
fi

if ((expired && ${#pending[@]} > 0)); then
  printf 'error: the %s expired on %s; nothing was downloaded. Ask the data provider for new links.\n' "$links" "$EXPIRES_AT_TEXT" >&2
  exit 3
fi
# A share link that was revoked (or has expired) is said at once, before anything is written.
link_exit=0
if [[ -n $SHARE_URL ]] && ((${#pending[@]} > 0)) && link_refusal; then
  printf 'error: %s Nothing was downloaded.\n' "$link_message" >&2
  exit "$link_exit"
fi

# One round: the files split round-robin over the workers. A staging file left by an earlier
# run is resumed where a checksum will check the whole file once complete, and fetched again
# from the start where none can; a complete one is only checked.
download_round() {
  local -a todo=("$@") found=() stale=() staging=()
  local k=0 i w part url have
  local -A made=()
  for i in "${todo[@]}"; do
    part=${parts[i]}
    [[ -e $part ]] && found+=("$part")
    if [[ -z ${made[${part%/*}]+x} ]]; then
      made[${part%/*}]=1
      staging+=("${part%/*}")
    fi
  done
  size_of=()
  ((${#found[@]} > 0)) && stat_sizes "${found[@]}"
  # One mkdir for a thousand staging folders, rather than one per file.
  while ((${#staging[@]} > 0)); do
    mkdir -p -- "${staging[@]:0:1000}" || die "cannot create folders under $root"
    staging=("${staging[@]:1000}")
  done
  open_lists $((${#todo[@]} < parallel ? ${#todo[@]} : parallel))
  for i in "${todo[@]}"; do
    part=${parts[i]}
    w=$((k % workers))
    k=$((k + 1))
    if [[ ${shas[i]} != - ]]; then
      printf '%s\0' "$part" >&"${sha_fd[w]}"
    elif [[ ${md5s[i]} != - ]]; then
      printf '%s\0' "$part" >&"${md5_fd[w]}"
    fi
    if [[ -n ${size_of[$part]+x} ]]; then
      have=${size_of[$part]}
      if [[ ${shas[i]}${md5s[i]} == -- ]] || ((have > sizes[i])); then
        stale+=("$part")
      elif ((have == sizes[i])); then
        continue # complete already: only needs checking
      fi
    fi
    # curl config values: double quotes, with backslash escapes.
    url=${urls[i]//\\/\\\\}
    part=${part//\\/\\\\}
    printf 'url = "%s"\noutput = "%s"\n' "${url//\"/\\\"}" "${part//\"/\\\"}" >&"${cfg_fd[w]}"
  done
  ((${#stale[@]} > 0)) && rm_batch "${stale[@]}"
  run_workers
}

declare -A http_code=()
# load_http_codes: http_code[STAGING FILE], curl's HTTP status, from the last round's workers.
load_http_codes() {
  local w code name
  for ((w = 0; w < workers; w++)); do
    while IFS=$'\t' read -r code name; do
      http_code[$name]=$code
    done <"$work/result.$w"
  done
}

# The checksum of every staging file, and the size of those that have none or fail; the
# failures in $verify_failed, the staging files whose content is wrong in corrupt[I].
declare -A corrupt=()
verify() {
  local -a unsure=() found=()
  local i part have code codes=0
  for i in "$@"; do
    part=${parts[i]}
    if [[ ${shas[i]} != - ]]; then
      [[ ${digest[$part]:-} == "${shas[i]}" ]] || unsure+=("$i")
    elif [[ ${md5s[i]} != - ]]; then
      [[ ${digest[$part]:-} == "${md5s[i]}" ]] || unsure+=("$i")
    else
      unsure+=("$i") # no checksum: its size decides
    fi
  done
  verify_failed=()
  ((${#unsure[@]} > 0)) || return 0
  for i in "${unsure[@]}"; do
    found+=("${parts[i]}")
  done
  size_of=()
  stat_sizes "${found[@]}"
  for i in "${unsure[@]}"; do
    part=${parts[i]}
    have=${size_of[$part]:-missing}
    if [[ $have == missing ]]; then
      ((codes++ == 0)) && load_http_codes
      code=${http_code[$part]:-}
      case "$code" in
        403) failure[$i]="HTTP 403: $refused_403" ;;
        404) failure[$i]="HTTP 404: the object is no longer there" ;;
        409) failure[$i]="HTTP 409: archived since the share was made: ask the data provider to restore it" ;;
        410) failure[$i]="HTTP 410: the share link has expired" ;;
        "" | 000) failure[$i]="not downloaded (connection failed)" ;;
        *) failure[$i]="not downloaded (HTTP $code)" ;;
      esac
    elif [[ $have != "${sizes[i]}" ]]; then
      failure[$i]="size $have instead of ${sizes[i]}"
    elif [[ ${shas[i]}${md5s[i]} != -- ]] && ! check_sum "$i" "$part"; then
      failure[$i]=$reason
      corrupt[$i]=1
    else
      continue
    fi
    verify_failed+=("$i")
  done
}

if ((${#pending[@]} > 0)); then
  human "$pending_bytes"
  note "Downloading ${#pending[@]} file(s) ($hr), $parallel at a time, to $root"
  download_round "${pending[@]}"
  verify "${pending[@]}"
  # A second round for what failed on the way (not for links the server refused): a
  # corrupted or short file is fetched again from the start.
  retry=()
  stale=()
  # A share link that refused a file may have been revoked or have expired meanwhile: if so,
  # stop, with the provider's message for every file not downloaded.
  link_exit=0
  if [[ -n $SHARE_URL ]] && ((${#verify_failed[@]} > 0)); then
    for i in "${verify_failed[@]}"; do
      if [[ ${failure[$i]} == HTTP\ 403* || ${failure[$i]} == HTTP\ 410* ]]; then
        link_refusal || link_exit=0
        break
      fi
    done
  fi
  if ((link_exit)); then
    for i in "${verify_failed[@]}"; do
      failure[$i]="not downloaded: $link_message"
      stale+=("${parts[i]}")
    done
    verify_failed=()
    rm_batch "${stale[@]}" # nothing to resume: the link will not serve them again
    stale=()
  fi
  for i in "${verify_failed[@]}"; do
    case "${failure[$i]}" in
      HTTP\ 40[349]* | HTTP\ 410*) ;;
      *)
        [[ -n ${corrupt[$i]+x} ]] && note "${paths[i]}: ${failure[$i]}: fetching it again"
        unset 'failure[$i]' 'corrupt[$i]'
        stale+=("${parts[i]}")
        retry+=("$i")
        ;;
    esac
  done
  if ((${#retry[@]} > 0)); then
    rm_batch "${stale[@]}"
    note "Retrying ${#retry[@]} file(s)."
    download_round "${retry[@]}"
    verify "${retry[@]}"
  fi
fi

# Move every verified file into place. Sorted, the files of a folder come together: one mv
# moves up to a thousand of them, and up to --parallel mv run at once (paths hold no newline
# or NUL: see the checks above).
movable=()
downloaded_bytes=0
for i in "${pending[@]}"; do
  [[ -n ${failure[$i]+x} ]] && continue
  movable+=("${parts[i]}")
  downloaded_bytes=$((downloaded_bytes + sizes[i]))
done
downloaded=${#movable[@]}
moving=()
move_failed=0
# move_batch: move $batch out of staging folder $from into its folder, in the background
# (waiting first for the oldest mv when --parallel of them are running).
move_batch() {
  ((${#batch[@]} > 0)) || return 0
  if ((${#moving[@]} == parallel)); then
    wait "${moving[0]}" || move_failed=1
    moving=("${moving[@]:1}")
  fi
  mv -f -t "${from%/*}" -- "${batch[@]}" &
  moving+=("$!")
  batch=()
}
if ((downloaded > 0)); then
  mapfile -d '' -t movable < <(printf '%s\0' "${movable[@]}" | LC_ALL=C sort -z)
  batch=()
  from=${movable[0]%/*}
  for part in "${movable[@]}"; do
    if [[ ${part%/*} != "$from" ]] || ((${#batch[@]} == 1000)); then
      move_batch
      from=${part%/*}
    fi
    batch+=("$part")
  done
  move_batch
  for pid in "${moving[@]}"; do
    wait "$pid" || move_failed=1
  done
  ((move_failed)) && die "cannot move downloaded files into place under $root (see above)"
fi
# A file with wrong content cannot be resumed, nor can one without a checksum (its first part
# could never be checked): remove them. A short one with a checksum stays, to resume.
wrong=()
for i in "${!failure[@]}"; do
  [[ -n ${corrupt[$i]+x} || (-n ${parts[i]:-} && ${shas[i]}${md5s[i]} == --) ]] && wrong+=("${parts[i]}")
done
((${#wrong[@]} > 0)) && rm_batch "${wrong[@]}"
emptied=()
for dir in "${dirs[@]}"; do
  [[ -d $dir/$STAGING ]] && emptied+=("$dir/$STAGING")
done
for ((start = 0; start < ${#emptied[@]}; start += 1000)); do
  rmdir -- "${emptied[@]:start:1000}" 2>/dev/null
done

# The checksum lists, for `md5sum -c` and `sha256sum -c` run in the download folder later:
# written whole to a new file (noclobber: never through a link or over another file), then
# moved over the old list.
list_failed=0
write_list() {
  local name=$1 new="$root/.$1.$$.$RANDOM"
  shift
  if [[ -n ${list_clash[$name]+x} ]]; then
    note "The share holds a file named $name: the checksum list $name is not written."
    return 0
  fi
  set -o noclobber
  if printf '%s\n' "$@" 2>/dev/null >"$new" && mv -f -T -- "$new" "$root/$name"; then
    set +o noclobber
    return 0
  fi
  set +o noclobber
  rm -f -- "$new"
  note "Could not write the checksum list $root/$name."
  list_failed=1
}
((${#md5_lines[@]} > 0)) && write_list "$MD5_LIST" "${md5_lines[@]}"
((${#sha_lines[@]} > 0)) && write_list "$SHA256_LIST" "${sha_lines[@]}"

size_only=0
for i in "${pending[@]}"; do
  [[ -z ${failure[$i]+x} && ${shas[i]}${md5s[i]} == -- ]] && size_only=$((size_only + 1))
done
# send_receipt: the verified summary, to the share link (numbers only), unless --no-receipt.
# A receipt that cannot be sent is said, and changes nothing else.
send_receipt() {
  [[ -n $SHARE_URL ]] && ((!no_receipt)) || return 0
  local ok=$((downloaded + uptodate)) verified answer
  verified=$((ok - size_only)) # the files in place that were checked all have a checksum
  printf -v body '{"files_total": %d, "files_ok": %d, "files_verified": %d, "files_failed": %d, "files_skipped": %d, "bytes": %d}' \
    "$total" "$ok" "$verified" "${#failure[@]}" "$skipped" "$((downloaded_bytes + uptodate_bytes))"
  # A 429 (too many requests) is sent again after the Retry-After it gives, as downloads are.
  if answer=$(curl --silent --show-error --fail --connect-timeout 30 --max-time 60 \
    --retry 5 --retry-delay 1 --header 'Content-Type: application/json' \
    --data-binary "$body" -- "$SHARE_URL/receipt" 2>&1); then
    note "Receipt sent to the data provider: $ok of $total file(s) verified."
  else
    note "Could not send the receipt to the data provider (${answer//[[:cntrl:]]/ }); the download itself is as reported above."
  fi
}
human "$downloaded_bytes"
printf 'Downloaded: %d file(s), %s\n' "$downloaded" "$hr"
human "$uptodate_bytes"
printf 'Up to date: %d file(s), %s, already here (checksum matches)\n' "$uptodate" "$hr"
human "$skipped_bytes"
printf 'Skipped:    %d file(s), %s%s\n' "$skipped" "$hr" "$skip_note"
printf 'Size only:  %d file(s) checked by size only (no checksum in the share)\n' "$size_only"
printf 'Failed:     %d file(s)\n' "${#failure[@]}"
if ((${#failure[@]} > 0)); then
  for ((i = 0; i < total; i++)); do
    [[ -n ${failure[$i]+x} ]] && printf '  %s: %s\n' "${paths[i]}" "${failure[$i]}" >&2
  done
  if ((expired)); then
    note "The $links expired on $EXPIRES_AT_TEXT: ask the data provider for new links."
  fi
  if ((link_exit)); then
    printf 'error: %s\n' "$link_message" >&2
    exit "$link_exit"
  fi
  send_receipt
  exit 1
fi
send_receipt
((list_failed)) && exit 1
exit 0
