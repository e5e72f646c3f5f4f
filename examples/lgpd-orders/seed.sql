-- Synthetic customers for the LGPD orders example. Every CPF and CNPJ has valid check digits,
-- but none belongs to a real person: they were generated at random (seeded) for tests and demos.
-- Apply as the database owner: psql -d orders -f seed.sql
BEGIN;
DROP TABLE IF EXISTS orders;
DROP TABLE IF EXISTS customers;
CREATE TABLE customers (
  id          integer PRIMARY KEY,
  nome        text NOT NULL,
  cpf         text NOT NULL UNIQUE,
  cnpj        text,
  email       text NOT NULL,
  telefone    text NOT NULL,
  dt_nasc     date NOT NULL,
  notes       text
);
CREATE TABLE orders (
  id          serial PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES customers(id),
  status      text NOT NULL,
  total_cents integer NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (id, nome, cpf, cnpj, email, telefone, dt_nasc, notes) VALUES
  (1, 'Larissa Oliveira', '590.830.166-33', NULL, 'larissa.oliveira1@exemplo.com.br', '+55 71 91791-2186', '2002-09-04', NULL),
  (2, 'Carla Santos', '390.996.030-88', NULL, 'carla.santos2@exemplo.com.br', '+55 21 97955-1968', '2002-10-04', NULL),
  (3, 'Tiago Oliveira', '482.199.351-11', NULL, 'tiago.oliveira3@exemplo.com.br', '+55 51 97867-3363', '1984-02-19', NULL),
  (4, 'Tiago Souza', '657.975.432-06', NULL, 'tiago.souza4@exemplo.com.br', '+55 91 91976-4374', '1981-11-18', NULL),
  (5, 'Heitor Souza', '527.601.895-20', '74.911.862/0001-02', 'heitor.souza5@exemplo.com.br', '+55 91 95919-9604', '1981-06-24', NULL),
  (6, 'Larissa Lima', '710.497.465-20', NULL, 'larissa.lima6@exemplo.com.br', '+55 91 99137-8474', '1954-02-09', NULL),
  (7, 'Ana Ferreira', '423.667.127-15', NULL, 'ana.ferreira7@exemplo.com.br', '+55 61 93753-2918', '1981-01-07', 'Cliente pediu retorno no e-mail ana.ferreira7@exemplo.com.br'),
  (8, 'Natália Almeida', '656.321.223-95', NULL, 'natalia.almeida8@exemplo.com.br', '+55 51 93243-8053', '1985-05-23', NULL),
  (9, 'Heitor Silva', '685.995.289-04', NULL, 'heitor.silva9@exemplo.com.br', '+55 81 93987-5304', '1968-01-05', NULL),
  (10, 'Bruno Ferreira', '159.010.928-72', '76.031.372/0001-47', 'bruno.ferreira10@exemplo.com.br', '+55 85 97428-7521', '1975-07-04', NULL),
  (11, 'Diego Lima', '245.957.117-86', NULL, 'diego.lima11@exemplo.com.br', '+55 91 91417-2152', '1963-10-13', NULL),
  (12, 'Paula Ferreira', '547.280.385-30', NULL, 'paula.ferreira12@exemplo.com.br', '+55 81 96109-2407', '1959-02-24', NULL),
  (13, 'Elisa Almeida', '485.253.888-31', NULL, 'elisa.almeida13@exemplo.com.br', '+55 11 99652-5883', '1991-02-23', NULL),
  (14, 'Larissa Santos', '338.750.047-52', NULL, 'larissa.santos14@exemplo.com.br', '+55 91 94197-4922', '2002-07-24', 'Cliente pediu retorno no e-mail larissa.santos14@exemplo.com.br'),
  (15, 'Isabela Santos', '379.907.511-94', '51.313.735/0001-06', 'isabela.santos15@exemplo.com.br', '+55 91 96640-8327', '2001-12-12', NULL),
  (16, 'Natália Santos', '167.612.220-60', NULL, 'natalia.santos16@exemplo.com.br', '+55 81 93924-8109', '2000-11-11', NULL),
  (17, 'Elisa Costa', '882.001.826-81', NULL, 'elisa.costa17@exemplo.com.br', '+55 81 93394-8771', '1992-06-05', NULL),
  (18, 'Gabriela Santos', '954.862.057-08', NULL, 'gabriela.santos18@exemplo.com.br', '+55 11 95126-4486', '1968-09-08', NULL),
  (19, 'Vitória Almeida', '807.290.222-93', NULL, 'vitoria.almeida19@exemplo.com.br', '+55 71 99219-3142', '1984-03-17', NULL),
  (20, 'Rafael Costa', '018.780.175-43', '87.180.334/0001-72', 'rafael.costa20@exemplo.com.br', '+55 21 92011-6340', '1993-09-17', NULL),
  (21, 'Wagner Almeida', '887.838.483-63', NULL, 'wagner.almeida21@exemplo.com.br', '+55 91 99391-4267', '1994-05-15', 'Cliente pediu retorno no e-mail wagner.almeida21@exemplo.com.br'),
  (22, 'Paula Oliveira', '361.341.252-70', NULL, 'paula.oliveira22@exemplo.com.br', '+55 71 92992-7428', '1978-06-03', NULL),
  (23, 'Isabela Oliveira', '326.865.635-83', NULL, 'isabela.oliveira23@exemplo.com.br', '+55 81 94597-2542', '1975-08-06', NULL),
  (24, 'Larissa Souza', '065.894.811-30', NULL, 'larissa.souza24@exemplo.com.br', '+55 61 91319-6537', '1985-08-15', NULL),
  (25, 'Heitor Souza', '751.402.614-21', '26.462.889/0001-12', 'heitor.souza25@exemplo.com.br', '+55 21 95351-5455', '1952-03-09', NULL),
  (26, 'Ana Souza', '170.586.492-94', NULL, 'ana.souza26@exemplo.com.br', '+55 51 92372-4643', '1954-05-28', NULL),
  (27, 'Bruno Almeida', '344.834.782-57', NULL, 'bruno.almeida27@exemplo.com.br', '+55 41 92793-3645', '1966-01-06', NULL),
  (28, 'Isabela Lima', '883.873.716-96', NULL, 'isabela.lima28@exemplo.com.br', '+55 11 95103-1605', '1950-01-24', 'Cliente pediu retorno no e-mail isabela.lima28@exemplo.com.br'),
  (29, 'Rafael Almeida', '532.650.201-18', NULL, 'rafael.almeida29@exemplo.com.br', '+55 71 99301-6042', '1994-04-08', NULL),
  (30, 'Isabela Carvalho', '247.045.585-50', '84.934.072/0001-04', 'isabela.carvalho30@exemplo.com.br', '+55 31 91907-2384', '1992-07-28', NULL),
  (31, 'Heitor Silva', '617.483.380-13', NULL, 'heitor.silva31@exemplo.com.br', '+55 51 94569-6842', '1961-01-11', NULL),
  (32, 'Carla Pereira', '044.319.829-22', NULL, 'carla.pereira32@exemplo.com.br', '+55 21 93357-7545', '1987-01-13', NULL),
  (33, 'Natália Lima', '208.682.889-69', NULL, 'natalia.lima33@exemplo.com.br', '+55 81 93448-5655', '1996-10-21', NULL),
  (34, 'Ana Costa', '516.780.083-89', NULL, 'ana.costa34@exemplo.com.br', '+55 41 92394-1510', '1952-03-21', NULL),
  (35, 'Rafael Pereira', '337.761.740-05', '18.174.143/0001-85', 'rafael.pereira35@exemplo.com.br', '+55 11 98486-2148', '1997-09-18', 'Cliente pediu retorno no e-mail rafael.pereira35@exemplo.com.br'),
  (36, 'Wagner Santos', '499.207.074-49', NULL, 'wagner.santos36@exemplo.com.br', '+55 21 93415-6435', '1966-11-24', NULL),
  (37, 'Diego Santos', '718.341.704-27', NULL, 'diego.santos37@exemplo.com.br', '+55 81 95765-9462', '1968-08-15', NULL),
  (38, 'Paula Souza', '191.284.529-68', NULL, 'paula.souza38@exemplo.com.br', '+55 85 98363-5401', '1974-04-07', NULL),
  (39, 'Sofia Pereira', '020.776.426-37', NULL, 'sofia.pereira39@exemplo.com.br', '+55 21 96983-4790', '1981-08-13', NULL),
  (40, 'Marcos Carvalho', '166.915.640-06', '56.130.445/0001-40', 'marcos.carvalho40@exemplo.com.br', '+55 61 92980-6428', '1950-06-25', NULL),
  (41, 'Isabela Souza', '853.560.688-24', NULL, 'isabela.souza41@exemplo.com.br', '+55 11 95679-3439', '1965-05-14', NULL),
  (42, 'Gabriela Souza', '470.822.765-59', NULL, 'gabriela.souza42@exemplo.com.br', '+55 11 97731-8386', '1989-03-21', 'Cliente pediu retorno no e-mail gabriela.souza42@exemplo.com.br'),
  (43, 'João Pereira', '786.122.138-51', NULL, 'joao.pereira43@exemplo.com.br', '+55 51 95262-7655', '1991-04-10', NULL),
  (44, 'Rafael Almeida', '283.312.581-00', NULL, 'rafael.almeida44@exemplo.com.br', '+55 41 98421-6453', '1998-08-14', NULL),
  (45, 'Larissa Santos', '074.952.883-45', '66.683.645/0001-84', 'larissa.santos45@exemplo.com.br', '+55 61 95232-4311', '1951-12-28', NULL),
  (46, 'Carla Pereira', '402.067.970-36', NULL, 'carla.pereira46@exemplo.com.br', '+55 41 97300-7549', '1991-08-14', NULL),
  (47, 'Carla Carvalho', '228.171.800-03', NULL, 'carla.carvalho47@exemplo.com.br', '+55 85 98670-8355', '1965-02-08', NULL),
  (48, 'Elisa Santos', '861.114.893-21', NULL, 'elisa.santos48@exemplo.com.br', '+55 91 91615-5977', '1958-11-09', NULL),
  (49, 'Natália Pereira', '453.783.830-21', NULL, 'natalia.pereira49@exemplo.com.br', '+55 41 91018-1171', '1984-05-15', 'Cliente pediu retorno no e-mail natalia.pereira49@exemplo.com.br'),
  (50, 'Otávio Pereira', '056.563.048-25', '61.436.537/0001-93', 'otavio.pereira50@exemplo.com.br', '+55 11 91356-4180', '1981-11-21', NULL);
INSERT INTO orders (customer_id, status, total_cents)
  SELECT (g % 50) + 1, (ARRAY['open','paid','shipped','refunded'])[(g % 4) + 1], 1000 + (g * 37) % 90000 FROM generate_series(1, 200) AS g;
GRANT SELECT, INSERT, UPDATE, DELETE ON customers, orders TO orders_app;
GRANT USAGE ON SEQUENCE orders_id_seq TO orders_app;
COMMIT;
