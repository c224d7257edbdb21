package tarexport

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

func TestApplyChanges(t *testing.T) {
	for _, tc := range []struct {
		changes []string
		want    string // the config as JSON
	}{
		{[]string{`CMD ["sh"]`}, `{"Cmd":["sh"]}`},
		{[]string{`cmd echo "hi there"`}, `{"Cmd":["/bin/sh","-c","echo \"hi there\""]}`},
		{[]string{`CMD [not json`}, `{"Cmd":["/bin/sh","-c","[not json"]}`},
		{[]string{`CMD []`}, `{}`},
		{[]string{`ENTRYPOINT ["/init", "--"]`}, `{"Entrypoint":["/init","--"]}`},
		{[]string{`CMD ["a"]`, `ENTRYPOINT ["b"]`}, `{"Entrypoint":["b"],"Cmd":["a"]}`},
		{[]string{`ENV A=b`, `ENV C="d e" F=g\ h`, `ENV A=z`}, `{"Env":["A=z","C=d e","F=g h"]}`},
		{[]string{`ENV LEGACY value with  spaces`}, `{"Env":["LEGACY=value with  spaces"]}`},
		{[]string{`ENV P=/bin`, `ENV P=/usr/bin:$P Q=${P}x R='$P' S="$P" T=${NOPE:-dflt} U=${P:+set} V=\$P`},
			`{"Env":["P=/usr/bin:/bin","Q=/binx","R=$P","S=/bin","T=dflt","U=set","V=$P"]}`},
		{[]string{`EXPOSE 80 443/tcp 53/udp 8000-8002`}, `{"ExposedPorts":{"443/tcp":{},"53/udp":{},"80/tcp":{},"8000/tcp":{},"8001/tcp":{},"8002/tcp":{}}}`},
		{[]string{`LABEL a=b "c d"="e f"`, `LABEL old style`}, `{"Labels":{"a":"b","c d":"e f","old":"style"}}`},
		{[]string{`USER nobody:nogroup`}, `{"User":"nobody:nogroup"}`},
		{[]string{`ENV U=app`, `USER $U`}, `{"User":"app","Env":["U=app"]}`},
		{[]string{`VOLUME /data /logs`, `VOLUME ["/cache"]`}, `{"Volumes":{"/cache":{},"/data":{},"/logs":{}}}`},
		{[]string{`WORKDIR /x`}, `{"WorkingDir":"/x"}`},
		{[]string{`WORKDIR /a`, `WORKDIR b/../c`}, `{"WorkingDir":"/a/c"}`},
		{[]string{`STOPSIGNAL SIGKILL`}, `{"StopSignal":"SIGKILL"}`},
		{[]string{`ONBUILD RUN echo hi`}, `{"OnBuild":["RUN echo hi"]}`},
		{[]string{`HEALTHCHECK --interval=5s --retries=3 CMD ["curl", "-f", "localhost"]`},
			`{"Healthcheck":{"Test":["CMD","curl","-f","localhost"],"Interval":5000000000,"Retries":3}}`},
		{[]string{`HEALTHCHECK CMD curl -f localhost || exit 1`}, `{"Healthcheck":{"Test":["CMD-SHELL","curl -f localhost || exit 1"]}}`},
		{[]string{`HEALTHCHECK NONE`}, `{"Healthcheck":{"Test":["NONE"]}}`},
		{[]string{"# a comment", "", "CMD a \\", "  b"}, `{"Cmd":["/bin/sh","-c","a   b"]}`},
		{nil, `{}`},
	} {
		var cfg dockerspec.DockerOCIImageConfig
		if err := ApplyChanges(&cfg, tc.changes); err != nil {
			t.Errorf("%q: %v", tc.changes, err)
			continue
		}
		got, _ := json.Marshal(cfg)
		if string(got) != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.changes, got, tc.want)
		}
	}
}

func TestApplyChangesErrors(t *testing.T) {
	for _, change := range []string{
		"RUN make", "FROM scratch", "ADD a b", "COPY a b", "ARG x", "SHELL [\"sh\"]", "MAINTAINER me", "NOPE",
		"ENV", "ENV =x", "ENV a=b c", "ENV onlykey", "LABEL", "EXPOSE", "EXPOSE abc", "EXPOSE 70000", "EXPOSE 90-80",
		"EXPOSE 80/icmp", "USER", "WORKDIR", "VOLUME", `VOLUME [""]`, "CMD", "ENTRYPOINT", "STOPSIGNAL kill me",
		"ONBUILD", "ONBUILD FROM x", "ONBUILD MAINTAINER x", "HEALTHCHECK", "HEALTHCHECK NONE x",
		"HEALTHCHECK --interval=1ns CMD x", "HEALTHCHECK --retries=-1 CMD x", "HEALTHCHECK --bogus=1 CMD x",
		"HEALTHCHECK CMD", "HEALTHCHECK RUN x", `ENV A='unterminated`, `ENV A=${B`, `ENV A=${B?err}`,
	} {
		var cfg dockerspec.DockerOCIImageConfig
		err := ApplyChanges(&cfg, []string{change})
		if err == nil || !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: err %v", change, err)
		}
	}
}

func TestHealthcheckDurations(t *testing.T) {
	var cfg dockerspec.DockerOCIImageConfig
	err := ApplyChanges(&cfg, []string{"HEALTHCHECK --interval=1m --timeout=3s --start-period=10s --start-interval=1s CMD true"})
	if err != nil {
		t.Fatal(err)
	}
	hc := cfg.Healthcheck
	if hc.Interval != time.Minute || hc.Timeout != 3*time.Second || hc.StartPeriod != 10*time.Second || hc.StartInterval != time.Second {
		t.Errorf("%+v", hc)
	}
}
