package change

import "github.com/aws/aws-lambda-go/events"

// RestoreAttribute is the framework's marker on the writes of a restore
// (package replay): a restore writes each item with this attribute set to
// a value of its own, then writes the exact item again without it. Both
// writes change the marker (set, then removed), which no other write
// does, since apps never write this attribute; the stream router and the
// realtime fan-out recognize them by that and neither publish nor push
// them (IsRestoreWrite). A restore therefore runs no function again and
// leaves every item exactly as logged.
const RestoreAttribute = "tf:restore"

// IsRestoreWrite reports whether a stream record is one of a restore's
// writes: an INSERT or MODIFY whose RestoreAttribute differs between the
// old and new images (set, changed or removed). A REMOVE never is: a
// restore does not delete.
func IsRestoreWrite(rec events.DynamoDBEventRecord) bool {
	if rec.EventName == "REMOVE" {
		return false
	}
	o, inOld := rec.Change.OldImage[RestoreAttribute]
	n, inNew := rec.Change.NewImage[RestoreAttribute]
	switch {
	case !inOld && !inNew:
		return false
	case inOld != inNew:
		return true
	}
	return !Equal(o, n)
}
