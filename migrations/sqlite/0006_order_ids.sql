-- Exchange orders are written by group commit too, so their ids come from id blocks as well.
INSERT INTO id_blocks (name, next_id) SELECT 'exchange_orders', COALESCE(MAX(id), 0) + 1 FROM exchange_orders;
