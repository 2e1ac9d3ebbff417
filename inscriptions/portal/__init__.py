"""Parents' portal: services, registration forms, my registrations."""
