// Package twilio is the notifier's Twilio room: a notify.Provider (and
// notify.Finder) that sends SMS through Twilio's Messages API with
// twilio-go, and looks a message up there when an earlier attempt is in
// doubt. It classifies Twilio's errors as permanent, transient or maybe
// sent (notify.SendError) for the sender in notify/store; it records
// nothing itself. notify/twiliotest is the fake Twilio the tests send to.
package twilio
