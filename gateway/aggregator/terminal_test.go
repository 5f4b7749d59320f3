package aggregator

import (
	"strings"
	"testing"
)

func TestDialScreenFraming(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{
			name: "menu",
			text: "Welcome to Kibubu\n1. Send money",
			want: "" +
				"+------------------------------------------+\n" +
				"| Welcome to Kibubu                        |\n" +
				"| 1. Send money                            |\n" +
				"+------------------------------------------+\n",
		},
		{
			name: "long line wraps at a space, blank line kept, CRLF and control characters tamed",
			text: "Send KES 1,500.00 to JANE WANJIKU 0712345678? Fee KES 13.00\r\n\r\nEnter PIN:\t\x1b[2J",
			want: "" +
				"+------------------------------------------+\n" +
				"| Send KES 1,500.00 to JANE WANJIKU        |\n" +
				"| 0712345678? Fee KES 13.00                |\n" +
				"|                                          |\n" +
				"| Enter PIN: ?[2J                          |\n" +
				"+------------------------------------------+\n",
		},
		{
			name: "a word longer than the screen breaks; accents count as one character",
			text: "Karibu tena, Zoé! " + strings.Repeat("x", 45),
			want: "" +
				"+------------------------------------------+\n" +
				"| Karibu tena, Zoé!                        |\n" +
				"| xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx |\n" +
				"| xxxxx                                    |\n" +
				"+------------------------------------------+\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			WriteScreen(&b, tc.text)
			if got := b.String(); got != tc.want {
				t.Errorf("WriteScreen(%q):\n%s\nwant:\n%s", tc.text, got, tc.want)
			}
		})
	}
}
