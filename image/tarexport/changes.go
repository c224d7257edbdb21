package tarexport

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// This file is a small Dockerfile reader for the instructions `docker commit --change` and
// `docker import --change` allow, written for Berth (no Dockerfile parser is among its
// modules). It follows BuildKit's Dockerfile frontend on what it covers: JSON-array and shell
// forms, line continuations, comments, quotes and backslash escapes, and $VAR, ${VAR},
// ${VAR:-word}, ${VAR-word}, ${VAR:+word}, ${VAR+word} from the config's own Env.
// Not covered: parser directives (# escape=`), heredocs, other ${...} operators.

// ApplyChanges applies Dockerfile instructions to an image config, as docker commit and
// docker import do with --change. The changes are joined with newlines into one Dockerfile.
// Allowed: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER,
// VOLUME, WORKDIR. Anything else, or a malformed instruction, is an invalid-argument error
// ("run is not a valid change command").
func ApplyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	cmdSet := false
	for _, line := range logicalLines(strings.Join(changes, "\n")) {
		instr, rest := splitInstruction(line)
		fail := func(format string, args ...any) error {
			return invalidf("invalid change %q: %s", line, fmt.Sprintf(format, args...))
		}
		switch instr {
		case "cmd":
			cmd, err := parseCommand(rest)
			if err != nil {
				return fail("%v", err)
			}
			cfg.Cmd = cmd
			cmdSet = true
		case "entrypoint":
			ep, err := parseCommand(rest)
			if err != nil {
				return fail("%v", err)
			}
			cfg.Entrypoint = ep
			if !cmdSet {
				cfg.Cmd = nil // as a Dockerfile's ENTRYPOINT resets an inherited CMD
			}
		case "env":
			pairs, err := parseKeyValues("ENV", rest, cfg.Env)
			if err != nil {
				return fail("%v", err)
			}
			for _, kv := range pairs {
				cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
			}
		case "label":
			pairs, err := parseKeyValues("LABEL", rest, cfg.Env)
			if err != nil {
				return fail("%v", err)
			}
			for _, kv := range pairs {
				if cfg.Labels == nil {
					cfg.Labels = map[string]string{}
				}
				cfg.Labels[kv[0]] = kv[1]
			}
		case "expose":
			words, err := expandWords(splitWords(rest), cfg.Env)
			if err != nil {
				return fail("%v", err)
			}
			if len(words) == 0 {
				return fail("EXPOSE requires at least one argument")
			}
			for _, w := range words {
				ports, err := parsePortSpec(w)
				if err != nil {
					return fail("%v", err)
				}
				for _, p := range ports {
					if cfg.ExposedPorts == nil {
						cfg.ExposedPorts = map[string]struct{}{}
					}
					cfg.ExposedPorts[p] = struct{}{}
				}
			}
		case "user":
			u, err := expandOne("USER", rest, cfg.Env)
			if err != nil {
				return fail("%v", err)
			}
			cfg.User = u
		case "volume":
			var vols []string
			if arr, ok := parseJSONArray(rest); ok {
				vols = arr
			} else {
				vols = splitWords(rest)
			}
			vols, err := expandWords(vols, cfg.Env)
			if err != nil {
				return fail("%v", err)
			}
			if len(vols) == 0 {
				return fail("VOLUME requires at least one argument")
			}
			for _, v := range vols {
				v = strings.TrimSpace(v)
				if v == "" {
					return fail("VOLUME specified can not be an empty string")
				}
				if cfg.Volumes == nil {
					cfg.Volumes = map[string]struct{}{}
				}
				cfg.Volumes[v] = struct{}{}
			}
		case "workdir":
			wd, err := expandOne("WORKDIR", rest, cfg.Env)
			if err != nil {
				return fail("%v", err)
			}
			if !path.IsAbs(wd) {
				wd = path.Join("/", cfg.WorkingDir, wd)
			}
			cfg.WorkingDir = wd
		case "stopsignal":
			sig, err := expandOne("STOPSIGNAL", rest, cfg.Env)
			if err != nil {
				return fail("%v", err)
			}
			if !stopSignalRe.MatchString(sig) {
				return fail("invalid signal %q", sig)
			}
			cfg.StopSignal = sig
		case "onbuild":
			if rest == "" {
				return fail("ONBUILD requires at least one argument")
			}
			trigger, _ := splitInstruction(rest)
			switch trigger {
			case "onbuild":
				return fail("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
			case "from", "maintainer":
				return fail("%s isn't allowed as an ONBUILD trigger", strings.ToUpper(trigger))
			}
			cfg.OnBuild = append(cfg.OnBuild, rest)
		case "healthcheck":
			hc, err := parseHealthcheck(rest)
			if err != nil {
				return fail("%v", err)
			}
			cfg.Healthcheck = hc
		default:
			return invalidf("%s is not a valid change command", instr)
		}
	}
	return nil
}

// logicalLines splits a Dockerfile into instructions: lines joined across backslash
// continuations, without comments and blank lines.
func logicalLines(text string) []string {
	var out []string
	var cur strings.Builder
	cont := false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && !cont) {
			continue
		}
		if trimmed == "" {
			continue // a blank line inside a continuation
		}
		body := strings.TrimRightFunc(line, unicode.IsSpace)
		if strings.HasSuffix(body, "\\") {
			cur.WriteString(strings.TrimSuffix(body, "\\"))
			cont = true
			continue
		}
		cur.WriteString(line)
		out = append(out, strings.TrimSpace(cur.String()))
		cur.Reset()
		cont = false
	}
	if cont && strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// splitInstruction splits "CMD echo hi" into "cmd" and "echo hi".
func splitInstruction(line string) (string, string) {
	line = strings.TrimSpace(line)
	i := strings.IndexFunc(line, unicode.IsSpace)
	if i < 0 {
		return strings.ToLower(line), ""
	}
	return strings.ToLower(line[:i]), strings.TrimSpace(line[i:])
}

// parseJSONArray parses the exec form, ["a", "b"]. Not an array of strings: not exec form.
func parseJSONArray(rest string) ([]string, bool) {
	if !strings.HasPrefix(rest, "[") {
		return nil, false
	}
	var arr []string
	if err := json.Unmarshal([]byte(rest), &arr); err != nil {
		return nil, false
	}
	if arr == nil {
		arr = []string{}
	}
	return arr, true
}

// parseCommand parses CMD and ENTRYPOINT: exec form as is, shell form through /bin/sh -c.
func parseCommand(rest string) ([]string, error) {
	if arr, ok := parseJSONArray(rest); ok {
		return arr, nil
	}
	if rest == "" {
		return nil, fmt.Errorf("requires at least one argument")
	}
	return []string{"/bin/sh", "-c", rest}, nil
}

// splitWords splits on whitespace outside quotes, keeping the quotes and escapes in the words
// (they are removed when a word is expanded).
func splitWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, c := range s {
		switch {
		case escaped:
			escaped = false
		case c == '\\' && quote != '\'':
			escaped = true
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case unicode.IsSpace(c):
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
			continue
		}
		inWord = true
		w.WriteRune(c)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// parseKeyValues parses ENV and LABEL: key=value... (each word one pair), or the legacy
// form "key value with spaces". Keys and values are expanded against env.
func parseKeyValues(instr, rest string, env []string) ([][2]string, error) {
	words := splitWords(rest)
	if len(words) == 0 {
		return nil, fmt.Errorf("%s requires at least one argument", instr)
	}
	var raw [][2]string
	if !strings.Contains(words[0], "=") {
		parts := whitespaceRe.Split(rest, 2)
		if len(parts) < 2 {
			return nil, fmt.Errorf("%s must have two arguments", instr)
		}
		raw = append(raw, [2]string{parts[0], parts[1]})
	} else {
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				return nil, fmt.Errorf("syntax error - can't find = in %q. Must be of the form: name=value", w)
			}
			raw = append(raw, [2]string{k, v})
		}
	}
	out := make([][2]string, 0, len(raw))
	for _, kv := range raw {
		k, err := expand(kv[0], env)
		if err != nil {
			return nil, err
		}
		if k == "" {
			return nil, fmt.Errorf("%s names can not be blank", instr)
		}
		v, err := expand(kv[1], env)
		if err != nil {
			return nil, err
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// expandOne expands the rest of a one-argument instruction (USER, WORKDIR, STOPSIGNAL).
func expandOne(instr, rest string, env []string) (string, error) {
	if rest == "" {
		return "", fmt.Errorf("%s requires exactly one argument", instr)
	}
	v, err := expand(rest, env)
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", fmt.Errorf("%s requires exactly one argument", instr)
	}
	return v, nil
}

func expandWords(words []string, env []string) ([]string, error) {
	out := make([]string, 0, len(words))
	for _, w := range words {
		v, err := expand(w, env)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func lookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(env[i], "="); k == name {
			return v, true
		}
	}
	return "", false
}

func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// expand removes quotes and escapes from a word and substitutes variables, as a Dockerfile
// does: nothing inside single quotes, variables inside double quotes.
func expand(word string, env []string) (string, error) {
	l := &lexer{src: []rune(word), env: env}
	return l.word(0)
}

type lexer struct {
	src []rune
	pos int
	env []string
}

func (l *lexer) peek() rune {
	if l.pos >= len(l.src) {
		return -1
	}
	return l.src[l.pos]
}

// word reads up to the end, or to stop (for the word of ${VAR:-word}, '}').
func (l *lexer) word(stop rune) (string, error) {
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if stop != 0 && c == stop {
			return b.String(), nil
		}
		l.pos++
		switch c {
		case '\'':
			end := -1
			for i := l.pos; i < len(l.src); i++ {
				if l.src[i] == '\'' {
					end = i
					break
				}
			}
			if end < 0 {
				return "", fmt.Errorf("unexpected end of statement while looking for matching single-quote")
			}
			b.WriteString(string(l.src[l.pos:end]))
			l.pos = end + 1
		case '"':
			if err := l.doubleQuoted(&b); err != nil {
				return "", err
			}
		case '\\':
			if l.pos < len(l.src) {
				b.WriteRune(l.src[l.pos])
				l.pos++
			}
		case '$':
			v, err := l.dollar()
			if err != nil {
				return "", err
			}
			b.WriteString(v)
		default:
			b.WriteRune(c)
		}
	}
	if stop != 0 {
		return "", fmt.Errorf("missing '%c'", stop)
	}
	return b.String(), nil
}

func (l *lexer) doubleQuoted(b *strings.Builder) error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		l.pos++
		switch c {
		case '"':
			return nil
		case '\\':
			switch n := l.peek(); n {
			case '"', '$', '\\':
				b.WriteRune(n)
				l.pos++
			default:
				b.WriteRune('\\')
			}
		case '$':
			v, err := l.dollar()
			if err != nil {
				return err
			}
			b.WriteString(v)
		default:
			b.WriteRune(c)
		}
	}
	return fmt.Errorf("unexpected end of statement while looking for matching double-quote")
}

func isNameRune(c rune) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// dollar expands a variable after a '$'.
func (l *lexer) dollar() (string, error) {
	if l.peek() != '{' {
		start := l.pos
		for l.pos < len(l.src) && isNameRune(l.src[l.pos]) {
			l.pos++
		}
		if start == l.pos {
			return "$", nil
		}
		v, _ := lookupEnv(l.env, string(l.src[start:l.pos]))
		return v, nil
	}
	l.pos++ // '{'
	start := l.pos
	for l.pos < len(l.src) && isNameRune(l.src[l.pos]) {
		l.pos++
	}
	name := string(l.src[start:l.pos])
	if name == "" {
		return "", fmt.Errorf("bad substitution: missing variable name in ${}")
	}
	value, set := lookupEnv(l.env, name)
	switch l.peek() {
	case '}':
		l.pos++
		return value, nil
	case ':', '-', '+':
	default:
		return "", fmt.Errorf("bad substitution in ${%s...}", name)
	}
	colon := false
	if l.peek() == ':' {
		colon = true
		l.pos++
	}
	op := l.peek()
	if op != '-' && op != '+' {
		return "", fmt.Errorf("unsupported modifier in ${%s...}", name)
	}
	l.pos++
	w, err := l.word('}')
	if err != nil {
		return "", err
	}
	l.pos++ // '}'
	present := set && (!colon || value != "")
	switch op {
	case '-':
		if present {
			return value, nil
		}
		return w, nil
	default: // '+'
		if present {
			return w, nil
		}
		return "", nil
	}
}

// parsePortSpec parses one EXPOSE argument: port[-port][/proto] into "port/proto" keys.
func parsePortSpec(s string) ([]string, error) {
	ports, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return nil, fmt.Errorf("invalid proto %q in port %q", proto, s)
	}
	startS, endS, isRange := strings.Cut(ports, "-")
	start, err := strconv.ParseUint(startS, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q", s)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(endS, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("invalid port range %q", s)
		}
	}
	if end-start > 65535 {
		return nil, fmt.Errorf("invalid port range %q", s)
	}
	out := make([]string, 0, end-start+1)
	for p := start; p <= end; p++ {
		out = append(out, strconv.FormatUint(p, 10)+"/"+proto)
	}
	return out, nil
}

var whitespaceRe = regexp.MustCompile(`\s+`)

var stopSignalRe = regexp.MustCompile(`^([0-9]+|(SIG)?[A-Z][A-Z0-9]*([+-][0-9]+)?)$`)

// parseHealthcheck parses HEALTHCHECK [--interval=D --timeout=D --start-period=D
// --start-interval=D --retries=N] CMD command, or HEALTHCHECK NONE.
func parseHealthcheck(rest string) (*dockerspec.HealthcheckConfig, error) {
	hc := &dockerspec.HealthcheckConfig{}
	flags := 0
	for strings.HasPrefix(rest, "--") {
		flag, after, _ := strings.Cut(rest, " ")
		rest = strings.TrimSpace(after)
		name, value, ok := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
		if !ok {
			return nil, fmt.Errorf("flag --%s needs a value (--%s=...)", name, name)
		}
		flags++
		var d *time.Duration
		switch name {
		case "interval":
			d = &hc.Interval
		case "timeout":
			d = &hc.Timeout
		case "start-period":
			d = &hc.StartPeriod
		case "start-interval":
			d = &hc.StartInterval
		case "retries":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("--retries must be a non-negative integer, not %q", value)
			}
			hc.Retries = n
			continue
		default:
			return nil, fmt.Errorf("unknown flag: --%s", name)
		}
		v, err := time.ParseDuration(value)
		if err != nil {
			return nil, fmt.Errorf("--%s: %v", name, err)
		}
		if v != 0 && v < time.Millisecond {
			return nil, fmt.Errorf("--%s cannot be less than 1ms", name)
		}
		*d = v
	}
	kind, args := splitInstruction(rest)
	switch kind {
	case "none":
		if args != "" || flags > 0 {
			return nil, fmt.Errorf("HEALTHCHECK NONE takes no arguments")
		}
		return &dockerspec.HealthcheckConfig{Test: []string{"NONE"}}, nil
	case "cmd":
		if arr, ok := parseJSONArray(args); ok {
			if len(arr) == 0 {
				return nil, fmt.Errorf("HEALTHCHECK CMD requires a command")
			}
			hc.Test = append([]string{"CMD"}, arr...)
		} else if args != "" {
			hc.Test = []string{"CMD-SHELL", args}
		} else {
			return nil, fmt.Errorf("HEALTHCHECK CMD requires a command")
		}
		return hc, nil
	default:
		return nil, fmt.Errorf("HEALTHCHECK takes NONE or CMD, not %q", kind)
	}
}
