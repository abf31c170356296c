"""Onboarding many institutions: CSV import and export (institution_csv), and invitation campaigns
that invite and chase their Canvas admins (campaigns: who is asked, chasers, the funnel;
campaign_emails: sending them through the outbox)."""
