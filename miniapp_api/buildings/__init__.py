"""Rental buildings (出租屋): the district's file imported, a QR e-ID per building, views by role."""
