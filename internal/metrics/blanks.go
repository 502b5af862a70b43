package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/server-impermanence/server-impermanence/internal/blanks"
)

var (
	blankInfoDesc = desc("blank_info", "The blank this boot reset the ephemeral subvolume from (value 1): the configured one, "+
		"a former one the kernel command line asked for, or the previous good one in a fallback.", "subvolume", "blank")
	blankHistoryDesc  = desc("blank_history", "Former blanks of the ephemeral subvolume's blank (<blank>.<time>).", "subvolume")
	blankFallbackDesc = desc("blank_fallback", "1 while the system runs on a fallback blank: the newly committed blank failed its trial boots; "+
		"the next commit clears it.", "subvolume")
)

// blanksSource reads this boot's blank status (internal/blanks), which the
// rollback writes in the run directory and a commit updates. Without one
// (no rollback this boot, or no blank) there is nothing to serve, which is
// no failure.
type blanksSource struct{}

func (blanksSource) name() string { return "blanks" }

func (blanksSource) describe(ch chan<- *prometheus.Desc) {
	ch <- blankInfoDesc
	ch <- blankHistoryDesc
	ch <- blankFallbackDesc
}

func (blanksSource) collect(_ context.Context, s *scrape, ch chan<- prometheus.Metric) error {
	st, ok, err := blanks.ReadStatus(s.opts.Paths.RunDir)
	if !ok {
		return err
	}
	for _, c := range st.Choices {
		gauge(ch, blankInfoDesc, 1, c.Subvolume, c.From)
		gauge(ch, blankHistoryDesc, float64(c.History), c.Subvolume)
		fb := 0.0
		if c.Fallback {
			fb = 1
		}
		gauge(ch, blankFallbackDesc, fb, c.Subvolume)
	}
	return nil
}
