package sessions

import (
	"strconv"
	"strings"
)

// The input history a session keeps to check each hop against (state.Hist,
// state.Last). An aggregator that sends the whole history (Africa's
// Talking's text, every input joined by '*') must send, on each new hop,
// the stored history followed by '*' and the new input; anything else is
// not this session's next hop. Inputs that may be PINs cannot be kept, not
// even as a keyed hash (ten thousand guesses test one), so such an input is
// kept masked: "an input was here, spanning n '*'-separated parts". Its
// part count depends only on the '*' typed, which no PIN holds. A hop is
// then checked exactly on every input the session kept as typed, and on
// the number of parts of each masked one.

// maskMark starts a masked entry; a kept input never holds it (one that
// does is masked).
const maskMark = "\x00"

// masked is the history entry of an input not kept, of parts parts.
func masked(parts int) string { return maskMark + strconv.Itoa(parts) }

// entry is the history entry of input, spanning parts parts: the input as
// typed when kept is true (the session keeps it anyway), else masked.
func entry(input string, parts int, kept bool) string {
	if kept && !strings.Contains(input, maskMark) {
		return input
	}
	return masked(parts)
}

// entryParts is how many '*'-separated parts entry spans, and whether it
// is masked; -1 for an entry this version cannot read.
func entryParts(e string) (parts int, isMasked bool) {
	if n, ok := strings.CutPrefix(e, maskMark); ok {
		p, err := strconv.Atoi(n)
		if err != nil || p < 1 {
			return -1, true
		}
		return p, true
	}
	return strings.Count(e, "*") + 1, false
}

// heard is what a hop says against the stored session.
type heard struct {
	input string
	// parts is how many parts of the aggregator's history the input spans
	// (0 when the hop carries no history).
	parts int
	// repeat: the hop was answered already; mismatch: it does not continue
	// the session (neither a repeat nor its next hop).
	repeat, mismatch bool
}

// continueHistory checks text, an aggregator's whole input history, against
// hist, the session's: the same history is a repeat; hist followed by '*'
// and more is a new hop whose input is the rest (a '*' typed in it
// included); anything else is a mismatch.
func continueHistory(hist []string, text string) heard {
	parts := strings.Split(text, "*")
	i := 0
	for _, e := range hist {
		n, isMasked := entryParts(e)
		if n < 0 || i+n > len(parts) {
			return heard{mismatch: true}
		}
		if !isMasked && strings.Join(parts[i:i+n], "*") != e {
			return heard{mismatch: true}
		}
		i += n
	}
	if i == len(parts) {
		return heard{repeat: true}
	}
	return heard{input: strings.Join(parts[i:], "*"), parts: len(parts) - i}
}
