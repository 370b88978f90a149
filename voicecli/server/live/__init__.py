"""The local server's GPT-Live protocol (`/v1/live/sessions`): a second wire protocol beside Realtime."""
