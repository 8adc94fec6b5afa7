COPY public.events (id, name, at) FROM STDIN WITH (FORMAT csv)
