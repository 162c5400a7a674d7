-- 10 self-registered stations: a station registered by connecting (unknown stations allowed)
-- is marked, so that retention can remove those never heard from again; registering it through
-- the API adopts it (the mark goes)
ALTER TABLE stations ADD COLUMN self_registered BOOLEAN NOT NULL DEFAULT FALSE;
