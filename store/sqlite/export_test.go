package sqlite

// BatchStats returns how many group commits the writer ran and how many
// writes they carried.
func (db *DB) BatchStats() (batches, writes int64) { return db.batches.Load(), db.batched.Load() }
