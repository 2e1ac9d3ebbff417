"""What every page shares: the town's theme stylesheet, navigation helpers and static pages."""
