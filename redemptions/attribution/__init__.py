"""Attribution: notes (partner content tagging shops), touches (a member saw a note) and the credits a redemption
gives the notes that led to it; the audience and notes figures of the merchant dashboard are read here."""
