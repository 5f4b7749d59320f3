package store

import "gorm.io/gorm"

// Gorm is the database under s, for tests that count or change rows.
func (s *Store) Gorm() *gorm.DB { return s.gdb }
