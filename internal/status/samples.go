package status

import (
	"math"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// sample is one series of a gathered metric family.
type sample struct {
	labels map[string]string
	value  float64
}

// samples are the gathered metric families by name, without the
// "impermanence_" prefix.
type samples map[string][]sample

func samplesOf(mfs []*dto.MetricFamily) samples {
	out := samples{}
	for _, mf := range mfs {
		name := mf.GetName()
		if len(name) > len(prefix) && name[:len(prefix)] == prefix {
			name = name[len(prefix):]
		}
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Untyped != nil:
				s.value = m.GetUntyped().GetValue()
			default:
				continue
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

const prefix = "impermanence_"

// get returns the value of the series of name whose labels include the
// pairs kv (name, value, name, value, ...).
func (s samples) get(name string, kv ...string) (float64, bool) {
	for _, x := range s[name] {
		if x.match(kv) {
			return x.value, true
		}
	}
	return 0, false
}

// all returns the series of name whose labels include kv.
func (s samples) all(name string, kv ...string) []sample {
	var out []sample
	for _, x := range s[name] {
		if x.match(kv) {
			out = append(out, x)
		}
	}
	return out
}

func (x sample) match(kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if x.labels[kv[i]] != kv[i+1] {
			return false
		}
	}
	return true
}

// labelValues returns the sorted distinct values of label among the series
// of name.
func (s samples) labelValues(name, label string) []string {
	var out []string
	for _, x := range s[name] {
		if v, ok := x.labels[label]; ok && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// timeOf is a Prometheus timestamp value as a time (UTC, microseconds).
func timeOf(v float64) time.Time {
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC()
}

func (s samples) time(name string, kv ...string) time.Time {
	if v, ok := s.get(name, kv...); ok {
		return timeOf(v)
	}
	return time.Time{}
}

func seconds(v float64) Duration {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0
	}
	return Duration(time.Duration(v * float64(time.Second)))
}
