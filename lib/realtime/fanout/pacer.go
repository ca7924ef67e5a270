package fanout

import (
	"context"
	"sync"
	"time"
)

// pacer spaces the posts of one Fanout once the Management API throttles
// them. API Gateway throttles PostToConnection per account and region; a
// fan-out that keeps posting over the limit gets mostly 429s, and one
// that backs off blindly leaves the limit unused. So while the API has
// throttled within the last second, posts start at 1.05 times the rate it
// accepted over that second: few are refused, and those are tried again.
// After a second with no throttle the pace rises by a quarter every
// 100 ms, and once it is far above what is being accepted, posts are no
// longer paced.
type pacer struct {
	now func() time.Time

	mu   sync.Mutex
	rate float64 // posts a second; 0: not paced
	next time.Time
	// accepted counts successful posts per 100 ms slot over the last
	// second; slot is the index (time / 100 ms) of the latest.
	accepted [10]int
	slot     int64
	// busySince is when posts resumed after a pause of a slot or more:
	// the accepted rate is measured over busy time only.
	busySince, lastOK time.Time
	// lastThrottle and lastAdjust are when the API last throttled and
	// when the pace was last set.
	lastThrottle, lastAdjust time.Time
}

const (
	paceSlot      = 100 * time.Millisecond
	paceWindow    = 10 * paceSlot
	paceOvershoot = 1.05
	paceRaise     = 1.25
	// paceRelease: a pace this many times what is accepted is no pace.
	paceRelease = 64
)

func newPacer(now func() time.Time) *pacer { return &pacer{now: now} }

// wait blocks until a post may start; it fails only when ctx ends first.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	if p.rate == 0 {
		p.mu.Unlock()
		return ctx.Err()
	}
	now := p.now()
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(time.Duration(float64(time.Second) / p.rate))
	p.mu.Unlock()
	if d := at.Sub(now); d > 0 && !sleep(ctx, d) {
		return ctx.Err()
	}
	return ctx.Err()
}

// ok counts a post the API accepted.
func (p *pacer) ok() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.advance(now)
	p.accepted[p.slot%int64(len(p.accepted))]++
	if now.Sub(p.lastOK) >= paceSlot {
		p.busySince = now
	}
	p.lastOK = now
	p.adjust(now)
}

// throttled counts a post the API refused for the rate.
func (p *pacer) throttled() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.advance(now)
	p.lastThrottle = now
	if p.rate == 0 {
		p.lastAdjust = time.Time{} // start pacing at once
	}
	p.adjust(now)
}

// advance moves the slot ring to now, clearing the slots it passes.
func (p *pacer) advance(now time.Time) {
	s := now.UnixNano() / int64(paceSlot)
	for i := int64(1); i <= int64(len(p.accepted)) && p.slot+i <= s; i++ {
		p.accepted[(p.slot+i)%int64(len(p.accepted))] = 0
	}
	if s > p.slot {
		p.slot = s
	}
}

// acceptedRate is the posts a second accepted over the last second, or
// since posts last resumed after a pause when that is more recent (and at
// least a slot): an idle stretch is not counted as the API's limit.
func (p *pacer) acceptedRate(now time.Time) float64 {
	n := 0
	for _, c := range p.accepted {
		n += c
	}
	// The ring holds nine full slots and the current one, so far.
	window := paceWindow - paceSlot + time.Duration(now.UnixNano()%int64(paceSlot))
	if !p.busySince.IsZero() && now.Sub(p.busySince) < window {
		window = max(paceSlot, now.Sub(p.busySince))
	}
	return float64(n) / window.Seconds()
}

// adjust sets the pace, at most once a slot.
func (p *pacer) adjust(now time.Time) {
	if now.Sub(p.lastAdjust) < paceSlot {
		return
	}
	p.lastAdjust = now
	accepted := p.acceptedRate(now)
	switch {
	case !p.lastThrottle.IsZero() && now.Sub(p.lastThrottle) < paceWindow:
		p.rate = max(1, paceOvershoot*accepted)
	case p.rate > 0:
		p.rate *= paceRaise
		if p.rate > paceRelease*accepted {
			p.rate = 0
		}
	}
}

// pace is the current pace in posts a second; 0 when not paced.
func (p *pacer) pace() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate
}
