package main

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of
// two, so a recorded value is off by less than 1/2^subBits (0.8%).
const subBits = 7

// histogramBuckets covers every uint64 nanosecond value.
const histogramBuckets = (65 - subBits) << subBits

// histogram is a log-linear latency histogram in the manner of HDR
// histograms: fixed size, no allocation per value. One per worker; merge
// them at the end.
type histogram struct {
	counts [histogramBuckets]uint64
	total  uint64
}

// bucketOf maps v to its bucket: values below 2^subBits exactly, larger
// ones by their top subBits+1 bits.
func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)<<subBits + int(v>>shift) - 1<<subBits
}

// bucketValue is the middle of bucket i, the value it reports.
func bucketValue(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	shift := i>>subBits - 1
	low := uint64(i&(1<<subBits-1)+1<<subBits) << shift
	return low + (uint64(1)<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.total++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// quantile returns the value at or below which the fraction q of the
// recorded values lie (0 when nothing was recorded).
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketValue(i))
		}
	}
	return 0
}
