#!/usr/bin/env bash
# nemo.sh: the NemoVideo cloud backend from the shell, written from the two skill documents
# (how-to-download-music, video-to-mp3) and their curl recipes. Needs bash 4.4+, curl, sed, awk.
#
#   nemo.sh convert SONG --out FILE [--portrait]   audio -> MP4 with a waveform visualizer
#   nemo.sh extract VIDEO --out FILE               video -> MP3
#   nemo.sh chat TEXT...                           talk to the editing agent (current project)
#   nemo.sh upload FILE...                         add files to the current project
#   nemo.sh credits | status                       balance | timeline summary
#   nemo.sh export [--format mp4|mp3] [--out FILE] render the current project and download it
#
# Environment: NEMO_TOKEN (use this token, no anonymous token), NEMO_CLIENT_ID, NEMO_API_URL,
# NEMO_WEB_URL, NEMO_TIME_SCALE (every sleep and time limit is divided by it), SKILL_SOURCE
# (overrides X-Skill-Platform). State lives in ${XDG_CONFIG_HOME:-~/.config}/nemovideo-sh/.
# No jq, no python: JSON is read by the small awk parser below.

set -u
umask 077

API=${NEMO_API_URL:-https://mega-api-prod.nemovideo.ai}
API=${API%/}
WEB=${NEMO_WEB_URL:-https://nemovideo.com}
WEB=${WEB%/}
SCALE=${NEMO_TIME_SCALE:-1}
CONF=${XDG_CONFIG_HOME:-$HOME/.config}/nemovideo-sh
ME=$(basename "$0")
FORMATS="mp4, mov, avi, webm, mkv, jpg, png, gif, webp, mp3, wav, m4a, aac"
MUSIC=how-to-download-music
VIDEO=video-to-mp3
SKILL_VERSION=1.0.0 # the video skill says v1.0.0; the music skill shows none
PROMPT_CONVERT="convert this audio track into a shareable video with a waveform visualizer and album art background"
PROMPT_EXTRACT="extract the audio from this video as an MP3 file"

for tool in curl awk sed; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$ME: $tool is required" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nemo-sh.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
RESP=$TMP/response.json
mkdir -p "$CONF" && chmod 700 "$CONF"

say() { printf '%s\n' "$*"; }
err() { printf '%s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# JSON, with awk only. One recursive-descent parser, four modes:
#   get  PATH     the value at PATH (a.b.0.c), strings decoded; exit 1 when absent
#   raw  PATH     the JSON text of the value at PATH (to pass the draft back unchanged)
#   sse           one stream event -> "X<TAB>text" | "T" (tool) | "H" (heartbeat)
#                 | "E<TAB>message" | "O" (other) | "M" (not JSON)
#   summary PATH  the documents' timeline summary of the draft at PATH
# ---------------------------------------------------------------------------------------------
JSON_AWK='
function skip(   c) {
    while (pos <= n) { c = substr(s, pos, 1); if (c == " " || c == "\t" || c == "\n" || c == "\r") pos++; else break }
}
function utf8(c) {
    if (c < 128) return sprintf("%c", c)
    if (c < 2048) return sprintf("%c%c", 192 + int(c / 64), 128 + c % 64)
    return sprintf("%c%c%c", 224 + int(c / 4096), 128 + int(c / 64) % 64, 128 + c % 64)
}
function hex(h,   i, v) {
    v = 0
    for (i = 1; i <= 4; i++) v = v * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
    return v
}
function str(   out, c, j, rest) {
    pos++; out = ""
    while (pos <= n) {
        c = substr(s, pos, 1)
        if (c == "\"") { pos++; return out }
        if (c == "\\") {
            c = substr(s, pos + 1, 1); pos += 2
            if (c == "n") out = out "\n"
            else if (c == "t") out = out "\t"
            else if (c == "r") out = out ""
            else if (c == "u") { out = out utf8(hex(substr(s, pos, 4))); pos += 4 }
            else if (c != "b" && c != "f") out = out c
            continue
        }
        rest = substr(s, pos); j = match(rest, /["\\]/)
        if (j == 0) break
        out = out substr(rest, 1, j - 1); pos += j - 1
    }
    bad = 1; pos = n + 1; return out
}
function value(path,   c, start, k, i) {
    skip(); start = pos; c = substr(s, pos, 1)
    if (c == "{") {
        pos++; skip()
        if (substr(s, pos, 1) == "}") pos++
        else while (!bad) {
            skip()
            if (substr(s, pos, 1) != "\"") { bad = 1; return }
            k = str(); skip()
            if (substr(s, pos, 1) != ":") { bad = 1; return }
            pos++; value(path == "" ? k : path "." k); skip()
            c = substr(s, pos, 1); pos++
            if (c == "}") break
            if (c != ",") { bad = 1; return }
        }
    } else if (c == "[") {
        pos++; skip(); i = 0
        if (substr(s, pos, 1) == "]") pos++
        else while (!bad) {
            value(path == "" ? i : path "." i); i++; skip()
            c = substr(s, pos, 1); pos++
            if (c == "]") break
            if (c != ",") { bad = 1; return }
        }
    } else if (c == "\"") { V[path] = str(); T[path] = "s" }
    else if (match(substr(s, pos), /^[-+0-9.eEa-z]+/)) {
        V[path] = substr(s, pos, RLENGTH); T[path] = "n"; pos += RLENGTH
        if (V[path] == "null") V[path] = ""
    } else { bad = 1; return }
    K[path] = 1
    if (path == want && !("\001raw" in V)) V["\001raw"] = substr(s, start, pos - start)
}
function secs(ms) { return sprintf("%g", int(ms / 100 + 0.5) / 10) }
function summary(p,   i, j, tt, name, label, lo, hi, st, en, vol, line, count) {
    line = ""; count = 0
    for (i = 0; (p ".t." i) in K; i++) {
        tt = V[p ".t." i ".tt"] + 0
        label = tt == 1 ? "Audio" : (tt == 7 ? "Text" : "Video")
        name = V[p ".t." i ".sg.0.m.text"]
        if (name != "") name = "\"" name "\""
        if (name == "") name = V[p ".t." i ".m.name"]
        if (name == "") name = V[p ".t." i ".sg.0.m.name"]
        if (name == "") name = "(unnamed)"
        lo = -1; hi = 0
        for (j = 0; (p ".t." i ".sg." j) in K; j++) {
            st = V[p ".t." i ".sg." j ".s"] + 0; en = st + V[p ".t." i ".sg." j ".d"]
            if (lo < 0 || st < lo) lo = st
            if (en > hi) hi = en
        }
        if (lo < 0) lo = 0
        vol = V[p ".t." i ".sg.0.m.volume"]
        if (vol != "" && vol + 0 <= 1) vol = vol * 100
        count++
        line = line " " count ". " label ": " name " (" secs(lo) "-" secs(hi) "s"
        line = line (tt == 1 && vol != "" ? ", " int(vol + 0.5) "%" : "") ")"
    }
    if (count == 0) return "Timeline is empty: no tracks yet."
    return "Timeline (" count " track" (count == 1 ? "" : "s") "):" line
}
{ s = s $0 "\n" }
END {
    n = length(s); pos = 1; bad = 0
    value("")
    if (mode == "get") { if (!(want in K)) exit 1; printf "%s", V[want]; exit 0 }
    if (mode == "raw") { if (!("\001raw" in V)) exit 1; printf "%s", V["\001raw"]; exit 0 }
    if (mode == "summary") { print summary(want); exit 0 }
    if (bad) { print "M"; exit 0 }
    if (T["error"] == "s") { print "E\t" V["error"]; exit 0 }
    if (V["type"] == "heartbeat") { print "H"; exit 0 }
    if (V["type"] == "error") { print "E\t" V["message"]; exit 0 }
    text = ""; tool = 0
    for (i = 0; ("content.parts." i) in K; i++) {
        if (("content.parts." i ".functionCall") in K || ("content.parts." i ".functionResponse") in K) tool = 1
        if (T["content.parts." i ".text"] == "s") text = text V["content.parts." i ".text"]
    }
    if (text != "") { print "X\t" text; exit 0 }
    print (tool ? "T" : "O")
}'

jget() { awk -v mode=get -v want="$1" "$JSON_AWK" "${2:-$RESP}"; }
jraw() { awk -v mode=raw -v want="$1" "$JSON_AWK" "${2:-$RESP}"; }
jsummary() { awk -v mode=summary -v want="$1" "$JSON_AWK" "${2:-$RESP}"; }

json_escape() { # a shell string as a JSON string body
    local t=$1
    t=${t//\\/\\\\}; t=${t//\"/\\\"}; t=${t//$'\n'/\\n}; t=${t//$'\r'/\\r}; t=${t//$'\t'/\\t}
    printf '%s' "$t"
}

# ---------------------------------------------------------------------------------------------
# time: the documents speak in seconds (poll every 30 s, wait 30 s after 429, streams up to
# 15 min, "Still working" every 2 min); NEMO_TIME_SCALE=N makes all of them N times shorter.
# With NEMO_MOCK_SLEEP_URL (a test suite's mock) every wait is taken on the mock's own clock.
# ---------------------------------------------------------------------------------------------
scaled() { awk -v s="$1" -v k="$SCALE" 'BEGIN { if (k <= 0) k = 1; printf "%.3f", s / k }'; }
nap() {
  if [ -n "${NEMO_MOCK_SLEEP_URL:-}" ]; then
    curl -fsS -X POST -H 'Content-Type: application/json' -d "{\"seconds\": $1}" \
      ${NEMO_MOCK_ADMIN_TOKEN:+-H "X-Mock-Admin-Token: $NEMO_MOCK_ADMIN_TOKEN"} \
      "$NEMO_MOCK_SLEEP_URL" > /dev/null && return
    err "could not sleep on the mock's clock ($NEMO_MOCK_SLEEP_URL); sleeping here instead"
  fi
  sleep "$(scaled "$1")"
}
now_us() { local t=${EPOCHREALTIME:-}; [ -n "$t" ] && printf '%s' "${t/./}" || printf '%s000000' "$(date +%s)"; }
NOTICE_US=$(awk -v k="$SCALE" 'BEGIN { if (k <= 0) k = 1; printf "%d", 120e6 / k }')
STREAM_MAX=$(scaled 900)
TICK=$(scaled 15)

# ---------------------------------------------------------------------------------------------
# saved state: client id, token, user id, session (0600 files under $CONF)
# ---------------------------------------------------------------------------------------------
save() { printf '%s\n' "$2" >"$CONF/$1"; chmod 600 "$CONF/$1"; }
load() { [ -s "$CONF/$1" ] && head -n 1 "$CONF/$1"; }

# a token or session belongs to the backend that issued it
if [ "$(load api)" != "$API" ]; then
    rm -f "$CONF/token" "$CONF/session" "$CONF/task" "$CONF/user_id" "$CONF/skill"
    save api "$API"
fi

TOKEN=${NEMO_TOKEN:-$(load token)}
SID=$(load session)
USER_ID=$(load user_id)
SKILL=$(load skill); SKILL=${SKILL:-$MUSIC}
AUTHF=$TMP/auth.header # curl -H @file: the token never shows on a command line (ps)

set_token() {
    TOKEN=$1
    printf 'Authorization: Bearer %s\n' "$TOKEN" >"$AUTHF"; chmod 600 "$AUTHF"
}
[ -n "$TOKEN" ] && set_token "$TOKEN"

platform() {
    if [ -n "${SKILL_SOURCE:-}" ]; then printf '%s' "$SKILL_SOURCE"; return; fi
    local here
    here=$(cd "$(dirname "$0")" && pwd -P)
    case "$here/" in
    "$HOME"/.clawhub/*) printf clawhub ;;
    "$HOME"/.cursor/skills/*) printf cursor ;;
    *) printf unknown ;;
    esac
}
PLATFORM=$(platform)
headers() { # every request: the three attribution headers, and the token once we have one
    HDR=(-H "X-Skill-Source: $SKILL" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $PLATFORM")
    [ -n "$TOKEN" ] && HDR+=(-H "@$AUTHF")
}

new_uuid() {
    if [ -r /proc/sys/kernel/random/uuid ]; then cat /proc/sys/kernel/random/uuid
    elif command -v uuidgen >/dev/null; then uuidgen | tr 'A-Z' 'a-z'
    else od -An -N16 -tx1 /dev/urandom | tr -d ' \n' |
        sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)\(.\{12\}\)$/\1-\2-\3-\4-\5/'
    fi
}

client_id() {
    local id=${NEMO_CLIENT_ID:-$(load client_id)}
    if [ -z "$id" ]; then id=$(new_uuid); save client_id "$id"; fi
    printf '%s' "$id"
}

# ---------------------------------------------------------------------------------------------
# errors: what the documents say to tell the user
# ---------------------------------------------------------------------------------------------
explain() { # after a failed call: HTTP, CODE and $RESP are set
    local msg uid registered
    msg=$(jget message 2>/dev/null)
    case "$CODE" in
    2001)
        uid=$(jget data.user_id 2>/dev/null); uid=${uid:-$USER_ID}
        registered=$(jget data.registered 2>/dev/null)
        if [ -n "${NEMO_TOKEN:-}" ] || [ "$registered" = true ]; then
            err "You are out of credits. Top up credits in your account to continue."
        else
            err "You are out of credits. Register to keep going: $WEB/register?bind=$uid"
        fi ;;
    4001) err "That file type is not supported. Supported formats: $FORMATS." ;;
    4002) err "That file is too large. Compress it or trim it to a shorter segment, then try again." ;;
    402) err "Export is blocked on the free plan (this is not about credits): register or upgrade your plan to unlock export." ;;
    429) err "NemoVideo is rate limiting this client (too many token requests). Try again later." ;;
    1001) err "Your NemoVideo token was refused (expired or invalid)${NEMO_TOKEN:+: check NEMO_TOKEN}." ;;
    1002) err "The project session no longer exists. Start again with '$ME upload FILE' or '$ME chat TEXT'." ;;
    000) err "Cannot reach NemoVideo at $API ($(cat "$TMP/curl.err" 2>/dev/null | head -n 1))." ;;
    *) err "NemoVideo refused the request (HTTP $HTTP, code ${CODE:-none})${msg:+: $msg}" ;;
    esac
    return 1
}

# ---------------------------------------------------------------------------------------------
# token and session (Quick Start Setup)
# ---------------------------------------------------------------------------------------------
get_token() { # POST /api/auth/anonymous-token with X-Client-Id; 400 -> new id; 429 -> 30 s, once
    local cid tries_400=0 tries_429=0
    cid=$(client_id)
    TOKEN=
    err "Connecting..."
    while :; do
        headers
        HTTP=$(curl -sS -X POST "${HDR[@]}" -H "X-Client-Id: $cid" -o "$RESP" -w '%{http_code}' \
            "$API/api/auth/anonymous-token" 2>"$TMP/curl.err") || HTTP=000
        CODE=$(jget code 2>/dev/null); CODE=${CODE:-$HTTP}
        if [ "$HTTP" = 400 ] || [ "$CODE" = 400 ]; then
            [ $tries_400 -eq 0 ] || { explain; return 1; }
            tries_400=1; cid=$(new_uuid); save client_id "$cid"; continue
        fi
        if [ "$HTTP" = 429 ] || [ "$CODE" = 429 ]; then
            [ $tries_429 -eq 0 ] || { CODE=429; explain; return 1; }
            tries_429=1; err "Rate limited; waiting 30 s before trying once more..."; nap 30; continue
        fi
        [ "$CODE" = 0 ] || { explain; return 1; }
        break
    done
    set_token "$(jget data.token)"
    save token "$TOKEN"
    USER_ID=$(jget data.user_id); save user_id "$USER_ID"
}

need_token() {
    [ -n "$TOKEN" ] && return 0
    get_token
}

new_session() {
    local lang=${LANG:-en}; lang=${lang%%[_.@]*}; [ "$lang" = C ] || [ "$lang" = POSIX ] && lang=en
    api POST /api/tasks/me/with-session/nemo_agent -H 'Content-Type: application/json' \
        -d "{\"task_name\":\"project\",\"language\":\"${lang:-en}\"}" || return 1
    SID=$(jget data.session_id); save session "$SID"
    save task "$(jget data.task_id)"
    local uid; uid=$(jget data.user_id 2>/dev/null) && [ -n "$uid" ] && { USER_ID=$uid; save user_id "$uid"; }
    save skill "$SKILL"
    err "Ready!"
}

need_session() {
    [ -n "$SID" ] && return 0
    new_session
}

# recover: after a call that failed with HTTP/CODE, do what the error table says and return 0
# to retry, 1 to give up. Each kind of recovery happens once per call.
recover() {
    case "$CODE" in
    1001)
        [ -z "${NEMO_TOKEN:-}" ] && [ "$R_AUTH" -eq 0 ] || return 1
        R_AUTH=1; rm -f "$CONF/token"; get_token ;;
    1002)
        [ "$R_SESSION" -eq 0 ] || return 1
        R_SESSION=1; err "The session expired; starting a new one..."
        local saved=("$HTTP" "$CODE"); cp "$RESP" "$TMP/failed.json"
        API_QUIET=1 new_session || { cp "$TMP/failed.json" "$RESP"; HTTP=${saved[0]}; CODE=${saved[1]}; return 1; } ;;
    429)
        [ "$R_429" -eq 0 ] || return 1
        R_429=1; err "Rate limited; waiting 30 s before trying once more..."; nap 30 ;;
    *) return 1 ;;
    esac
}

# api METHOD PATH [curl args]: one call with the error table applied; @SID@ in the path or the
# arguments stands for the current session id (it changes if 1002 makes a new session).
api() {
    local method=$1 path=$2 a R_AUTH=0 R_SESSION=0 R_429=0
    shift 2
    need_token || return 1
    while :; do
        local args=()
        for a in "$@"; do args+=("${a//@SID@/$SID}"); done
        headers
        HTTP=$(curl -sS -X "$method" "${HDR[@]}" -o "$RESP" -w '%{http_code}' "${args[@]}" \
            "$API${path//@SID@/$SID}" 2>"$TMP/curl.err") || HTTP=000
        CODE=$(jget code 2>/dev/null)
        [ "$HTTP" = 429 ] && CODE=429
        [ -n "$CODE" ] || CODE=$HTTP
        case "$HTTP" in 2??) [ "$CODE" = 0 ] && return 0 ;; esac
        recover && continue
        [ -n "${API_QUIET:-}" ] || explain
        return 1
    done
}

# ---------------------------------------------------------------------------------------------
# chat: POST /run_sse and read the stream with curl -N until it closes
# ---------------------------------------------------------------------------------------------
gui_translate() { # the backend writes for its web editor: point at this script's commands
    sed -E \
        -e "s/Click (on )?the Export button( in the [a-z ]+ corner)?/Run '$ME export'/g" \
        -e "s/click (on )?the Export button( in the [a-z ]+ corner)?/run '$ME export'/g" \
        -e "s/(the )?Export button/'$ME export'/g" \
        -e "s/([Cc])lick (on )?the Upload button/\1lick-run '$ME upload FILE'/g; s/Click-run/Run/g; s/click-run/run/g" \
        -e "s/Open the [A-Za-z >]*panel/Run '$ME status'/g; s/open the [A-Za-z >]*panel/run '$ME status'/g" \
        -e "s/Preview (it )?in (the )?timeline/Run '$ME status'/g; s/preview (it )?in (the )?timeline/run '$ME status'/g" \
        -e "s/Drag (the|and|your|a) [^,.;]*/Describe the change with '$ME chat'/g" \
        -e "s/drag (the|and|your|a) [^,.;]*/describe the change with '$ME chat'/g" \
        -e "s/Click (on |the )[^,.;]*/Tell me what to change with '$ME chat'/g" \
        -e "s/click (on |the )[^,.;]*/tell me what to change with '$ME chat'/g" \
        -e "s/点击(右上角的)?「导出」按钮/运行 $ME export /g" \
        -e "s/打开「[^」]*」面板/运行 $ME status /g" \
        -e "s/拖拽/用 $ME chat 描述/g" \
        -e "s/点击[^，。；]*/用 $ME chat 告诉我/g" \
        -e "s/打开/查看/g"
}

state_draft() { # GET state into $1, and the draft's JSON text into $1.draft
    api GET "/api/state/nemo_agent/me/@SID@/latest" || return 1
    cp "$RESP" "$1"
    jraw data.state.draft "$1" >"$1.draft"
}

sse_line() { # one line of the stream
    local payload out
    case "$1" in
    data:*)
        payload=${1#data:}; payload=${payload# }
        [ -n "$payload" ] || return 0 # an empty data: line means "still working"
        out=$(printf '%s\n' "$payload" | awk -v mode=sse "$JSON_AWK")
        case "${out:0:1}" in
        X) SAW_TEXT=1; printf '%s\n' "${out:2}" | gui_translate; mark=$(now_us) ;;
        T) SAW_TOOL=1 ;; # tool calls and results stay internal
        E) RUN_ERROR=${out:2}; [ -n "$RUN_ERROR" ] || RUN_ERROR="unknown error" ;;
        esac ;; # H (heartbeat), O (other), M (not JSON): nothing to show
    "" | :*) ;;
    *) ENVELOPE+=$1 ;; # not a stream at all: a JSON answer (an error)
    esac
}

still_working() { # the documents: every 2 minutes without text, "⏳ Still working..."
    local t
    t=$(now_us)
    if [ $((t - mark)) -ge "$NOTICE_US" ]; then
        say "⏳ Still working..."
        mark=$((mark + NOTICE_US))
    fi
}

chat() {
    local text=$1 body before_file=$TMP/before.json before="" R_AUTH=0 R_SESSION=0 R_429=0
    local line rc mark partial eof
    need_token || return 1
    if [ -n "$SID" ]; then # remember the draft, to tell what changed if the run ends silently
        state_draft "$before_file" || return 1
        before=$(cat "$before_file.draft")
    else
        need_session || return 1
    fi
    while :; do
        body="{\"app_name\":\"nemo_agent\",\"user_id\":\"me\",\"session_id\":\"$SID\",\"new_message\":{\"parts\":[{\"text\":\"$(json_escape "$text")\"}]}}"
        printf '%s' "$body" >"$TMP/chat.json"
        headers
        SAW_TEXT=0 SAW_TOOL=0 RUN_ERROR="" ENVELOPE=""
        mark=$(now_us) partial="" eof=""
        # read -t wakes up every 15 s (scaled) so the notice also comes during a silent stall;
        # a line cut by the timeout is kept in $partial and completed by the next read
        while [ -z "$eof" ]; do
            if IFS= read -r -t "$TICK" line; then
                line=$partial$line partial=""
            elif [ $? -gt 128 ]; then
                partial+=$line line=""
                still_working
                continue
            else # end of stream; a last line without a newline still counts
                line=$partial$line partial="" eof=1
                [ -n "$line" ] || break
            fi
            sse_line "${line%$'\r'}"
            still_working
        done < <(curl -sSN --max-time "$STREAM_MAX" -D "$TMP/sse.headers" -X POST "${HDR[@]}" \
            -H 'Accept: text/event-stream' -H 'Content-Type: application/json' \
            --data-binary @"$TMP/chat.json" "$API/run_sse" 2>"$TMP/curl.err")
        wait $! 2>/dev/null
        rc=$?
        HTTP=$(grep -a '^HTTP/' "$TMP/sse.headers" 2>/dev/null | tail -n 1 | awk '{ print $2 }')
        HTTP=${HTTP:-000}
        if [ -n "$ENVELOPE" ] || [ "${HTTP:0:1}" != 2 ]; then
            printf '%s' "$ENVELOPE" >"$RESP"
            CODE=$(jget code 2>/dev/null)
            [ "$HTTP" = 429 ] && CODE=429
            [ -n "$CODE" ] || CODE=$HTTP
            recover && continue
            explain; return 1
        fi
        break
    done
    if [ -n "$RUN_ERROR" ]; then
        err "NemoVideo reported an error during the run: $RUN_ERROR. Try again in a moment."
        return 1
    fi
    if [ "$rc" -eq 28 ]; then
        err "No answer after 15 minutes; the work may still finish on NemoVideo's side. Check with '$ME status' later."
        return 1
    fi
    if [ "$rc" -ne 0 ]; then
        err "The connection to NemoVideo dropped (curl exit $rc). The request keeps running on NemoVideo's side: check with '$ME status' in a minute (do not send it again)."
        return 1
    fi
    if [ "$SAW_TEXT" -eq 0 ]; then # ~30% of edits close without text: read the state
        local after
        state_draft "$TMP/after.json" || return 1
        after=$(cat "$TMP/after.json.draft")
        if [ "$after" != "$before" ]; then
            say "✅ The project was updated. $(jsummary data.state.draft "$TMP/after.json")"
        else
            say "The agent finished without a reply and the timeline did not change. $(jsummary data.state.draft "$TMP/after.json")"
        fi
    fi
    return 0
}

# ---------------------------------------------------------------------------------------------
# upload: multipart field "files"
# ---------------------------------------------------------------------------------------------
check_file() { # $1 path, $2 limit in MB
    local f=$1 ext size
    [ -f "$f" ] || die "No such file: $f"
    ext=${f##*.}; ext=$(printf '%s' "$ext" | tr 'A-Z' 'a-z')
    case ",${FORMATS// /}," in
    *",$ext,"*) ;;
    *) [ "$SKILL" = "$MUSIC" ] && [ "$ext" = flac ] || die "Unsupported file type '.$ext'. Supported formats: $FORMATS." ;;
    esac
    size=$(wc -c <"$f")
    [ "$size" -le $(($2 * 1024 * 1024)) ] || die "$f is larger than $2 MB: compress it or trim it first."
}

upload() {
    local f name kind dur
    need_session || return 1
    api POST "/api/upload-video/nemo_agent/me/@SID@" -F "files=@$1" || return 1
    name=$(jget data.files.0.filename); kind=$(jget data.files.0.file_type)
    dur=$(jget data.files.0.duration 2>/dev/null)
    say "Uploaded $name ($kind${dur:+, ${dur} s})."
}

# ---------------------------------------------------------------------------------------------
# export: GET state for the draft -> POST /api/render/proxy/lambda -> poll every 30 s (at most
# 10 polls) -> download output.url
# ---------------------------------------------------------------------------------------------
export_project() { # $1 format, $2 output file
    local fmt=$1 out=$2 draft rid status polls=0 url progress
    [ -n "$SID" ] || die "No project yet: start with '$ME upload FILE' or '$ME chat TEXT'."
    state_draft "$TMP/state.json" || return 1
    draft=$(cat "$TMP/state.json.draft")
    [ -n "$draft" ] || draft='{}'
    rid=render_$(date +%s%3N)
    printf '{"id":"%s","sessionId":"%s","draft":%s,"output":{"format":"%s","quality":"high"}}' \
        "$rid" "$SID" "$draft" "$fmt" >"$TMP/render.json"
    api POST /api/render/proxy/lambda -H 'Content-Type: application/json' \
        --data-binary @"$TMP/render.json" || return 1
    err "Rendering ($fmt)..."
    while :; do
        [ $polls -lt 10 ] || {
            err "The render is still not finished after 10 checks (5 minutes). It may still complete: run '$ME export' again later."
            return 1
        }
        nap 30
        polls=$((polls + 1))
        API_QUIET=1 api GET "/api/render/proxy/lambda/$rid" || {
            if [ "$HTTP" = 404 ] || [ "$CODE" = 404 ]; then
                err "The render job was lost by NemoVideo (not found). Run '$ME export' again."
                return 1
            fi
            explain; return 1
        }
        status=$(jget status 2>/dev/null)
        [ -n "$status" ] || status=$(jget data.status 2>/dev/null)
        case "$status" in
        completed) break ;;
        failed | error | cancelled)
            err "The render failed${status:+ ($(jget error 2>/dev/null || echo "$status"))}. Try '$ME export' again later."
            return 1 ;;
        *)
            progress=$(jget progress 2>/dev/null)
            err "Rendering... ${progress:-0}%" ;;
        esac
    done
    url=$(jget output.url 2>/dev/null)
    [ -n "$url" ] || url=$(jget data.outputUrl 2>/dev/null)
    [ -n "$url" ] || die "The render completed but NemoVideo gave no download link."
    headers
    local dl=(-H "X-Skill-Source: $SKILL" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $PLATFORM")
    case "$url" in "$API"/*) dl=("${HDR[@]}") ;; esac # the token only goes to the API host
    mkdir -p "$(dirname "$out")"
    if ! curl -fsS -L "${dl[@]}" -o "$out.part" "$url" 2>"$TMP/curl.err"; then
        rm -f "$out.part"
        err "The render finished, but the download failed ($(head -n 1 "$TMP/curl.err"))."
        return 1
    fi
    mv -f "$out.part" "$out"
    say "Saved $out ($(wc -c <"$out" | tr -d ' ') bytes)."
}

# ---------------------------------------------------------------------------------------------
# the jobs
# ---------------------------------------------------------------------------------------------
usage() {
    sed -n '4,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

job() { # convert | extract: a new project, upload, the request, export, download
    local kind=$1 src="" out="" portrait=0 prompt fmt limit
    shift
    while [ $# -gt 0 ]; do
        case "$1" in
        --out) out=${2:-}; shift 2 ;;
        --portrait) portrait=1; shift ;;
        -*) usage ;;
        *) src=$1; shift ;;
        esac
    done
    [ -n "$src" ] || usage
    if [ "$kind" = convert ]; then
        SKILL=$MUSIC prompt=$PROMPT_CONVERT fmt=mp4 limit=200
        [ $portrait -eq 0 ] || prompt="$prompt, in portrait 9:16 format (1080x1920)"
    else
        SKILL=$VIDEO prompt=$PROMPT_EXTRACT fmt=mp3 limit=500
    fi
    [ -n "$out" ] || out=${src%.*}.$fmt
    [ "$out" != "$src" ] || out=${src%.*}-nemo.$fmt
    check_file "$src" "$limit"
    need_token || exit 1
    new_session || exit 1
    upload "$src" || exit 1
    chat "$prompt" || exit 1
    export_project "$fmt" "$out" || exit 1
}

[ $# -gt 0 ] || usage
command=$1
shift
case "$command" in
convert | extract) job "$command" "$@" ;;
chat)
    [ $# -gt 0 ] || usage
    chat "$*" || exit 1 ;;
upload)
    [ $# -gt 0 ] || usage
    for f in "$@"; do check_file "$f" 500; done
    for f in "$@"; do upload "$f" || exit 1; done ;;
credits)
    api GET /api/credits/balance/simple || exit 1
    say "Credits: $(jget data.available) available ($(jget data.frozen) reserved for work in progress, $(jget data.total) total)" ;;
status)
    if [ -z "$SID" ]; then
        say "No project yet: start with '$ME upload FILE' or '$ME chat TEXT'."
        exit 0
    fi
    state_draft "$TMP/state.json" || exit 1
    say "Project: $(jget data.task_name "$TMP/state.json")"
    jsummary data.state.draft "$TMP/state.json" ;;
export)
    fmt=mp4 out=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --format) fmt=${2:-}; shift 2 ;;
        --out) out=${2:-}; shift 2 ;;
        *) usage ;;
        esac
    done
    case "$fmt" in mp4 | mp3) ;; *) die "Unknown format '$fmt': use mp4 or mp3." ;; esac
    export_project "$fmt" "${out:-nemovideo-$(date +%s).$fmt}" || exit 1 ;;
-h | --help | help) usage ;;
*) usage ;;
esac
exit 0
