package wallet

import (
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestCheckPassword checks that a stored hash is checked at the cost it
// records, whatever the wallet's cost is now; that a hash from before costs
// were recorded is checked at the default; and that an unreadable or
// out-of-bounds stored hash matches nothing.
func TestCheckPassword(t *testing.T) {
	const password = "correct horse battery"
	salt := []byte("0123456789abcdef")
	legacy := argon2.IDKey([]byte(password), salt, passwordTime, passwordMemoryKiB, passwordThreads, passwordHashBytes)
	for _, tc := range []struct {
		name     string
		stored   []byte
		password string
		want     bool
	}{
		{"test cost", TestPasswordCost.hash(password, salt), password, true},
		{"test cost, wrong password", TestPasswordCost.hash(password, salt), password + "!", false},
		{"default cost", DefaultPasswordCost.hash(password, salt), password, true},
		{"another cost", PasswordCost{Time: 3, MemoryKiB: 64}.hash(password, salt), password, true},
		{"before costs were recorded", legacy, password, true},
		{"before costs were recorded, wrong password", legacy, "wrong horse battery", false},
		{"no colon", []byte("argon2id,t=1,m=8"), password, false},
		{"unreadable cost", append([]byte("argon2id,t=x,m=8:"), legacy...), password, false},
		{"time out of bounds", append([]byte("argon2id,t=99,m=8:"), legacy...), password, false},
		{"memory out of bounds", append([]byte("argon2id,t=1,m=99999999:"), legacy...), password, false},
		{"short hash", legacy[:16], password, false},
		{"empty", nil, password, false},
	} {
		if got := checkPassword(tc.password, salt, tc.stored); got != tc.want {
			t.Errorf("%s: checkPassword = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPasswordCostBounds(t *testing.T) {
	for _, tc := range []struct {
		cost PasswordCost
		ok   bool
	}{
		{DefaultPasswordCost, true},
		{TestPasswordCost, true},
		{PasswordCost{Time: 0, MemoryKiB: 64}, false},
		{PasswordCost{Time: 1, MemoryKiB: 7}, false},
		{PasswordCost{Time: passwordTimeMax + 1, MemoryKiB: 64}, false},
		{PasswordCost{Time: 1, MemoryKiB: passwordMemoryKiBMax + 1}, false},
	} {
		if err := tc.cost.validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.validate() = %v, want ok=%v", tc.cost, err, tc.ok)
		}
	}
}
