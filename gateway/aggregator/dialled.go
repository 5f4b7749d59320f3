package aggregator

// What a handset may dial and send, checked before a hop goes out: by
// kibubu dial and by the web simulator (gateway/simulator).

const (
	// ServiceCodeBytesMax bounds a dialled code; operators' codes, with
	// their sub-menus (*334*1*2#), are far shorter.
	ServiceCodeBytesMax = 32
	// InputRunesMax is the longest input a handset sends: a USSD string is
	// 182 characters at most.
	InputRunesMax = inputRunesMax
)

// ValidServiceCode reports whether s is a USSD code as a handset dials it:
// *, digits and *, then #, with at least one digit (*334#, *334*1#).
func ValidServiceCode(s string) bool {
	if len(s) < 3 || len(s) > ServiceCodeBytesMax || s[0] != '*' || s[len(s)-1] != '#' {
		return false
	}
	digit := false
	for _, c := range s[1 : len(s)-1] {
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c != '*':
			return false
		}
	}
	return digit
}
