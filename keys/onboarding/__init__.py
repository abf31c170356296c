"""Onboarding many institutions: CSV import and export (institution_csv), and invitation campaigns
that invite and chase their Canvas admins (campaigns)."""
