"""Demo content for the Save the Survivors campaign, in Dutch and English.

The stories in this module are composite and illustrative. They were written for this demo
and do not describe any specific, real child: each one combines experiences that many
children on the move share, and every name is a pseudonym. They are based on the public
facts of the campaign: a child flees every five seconds; on the Central Mediterranean Route
children are at risk of debt bondage and forced labour, exploitation and kidnapping for
ransom; border crossings and refugee camps are points of particular risk; and Save the
Children responds with psychosocial support and emergency aid (see the report "Tipping
Points to Turning Points"). Stories loaded from here should be marked as illustrative.
"""

from __future__ import annotations

from textwrap import dedent

CAMPAIGN: dict[str, str] = {
    "slug": "save-the-survivors",
    "name_nl": "Save the Survivors",
    "name_en": "Save the Survivors",
    "tagline_nl": "Kinderen op de vlucht verdienen bescherming, bij elke stap van hun reis.",
    "tagline_en": "Children on the move deserve protection at every step of their journey.",
    "intro_nl": dedent(
        """
        Ergens ter wereld moet **elke vijf seconden een kind vluchten**. Voor oorlog en
        geweld, voor droogte en overstromingen, voor vervolging, of omdat er thuis
        simpelweg geen bestaan meer is. Onderweg, en vooral op de Centrale Mediterrane
        Route, lopen deze kinderen grote gevaren: ze worden uitgebuit, moeten een
        'schuld' afwerken of worden ontvoerd voor losgeld.

        Save the Children staat naast deze kinderen. We bieden **psychosociale steun**,
        zodat ze kunnen verwerken wat ze hebben meegemaakt, en **noodhulp** waar die het
        hardst nodig is: een veilige plek, eten, medische zorg en hulp bij het
        terugvinden van familie. Want elk kind heeft recht op een jeugd waarin het veilig
        kan spelen, leren en opgroeien. De verhalen hieronder zijn samengesteld uit
        ervaringen die veel kinderen delen, met verzonnen namen, zodat geen enkel kind
        herkenbaar is.
        """
    ).strip(),
    "intro_en": dedent(
        """
        Somewhere in the world, **a child is forced to flee every five seconds**. They run
        from war and violence, from drought and floods, from persecution, or because
        there is simply no way left to make a living at home. Along the way, and
        especially on the Central Mediterranean Route, these children face serious
        dangers: they are exploited, made to work off a "debt" or kidnapped for ransom.

        Save the Children stands by these children. We provide **psychosocial support**
        to help them cope with what they have been through, and **emergency aid** where
        it is needed most: a safe place, food, medical care and help finding family.
        Because every child has the right to a childhood in which they can play, learn
        and grow up safely. The stories below are composites of experiences that many
        children share, told with invented names, so that no child can be recognised.
        """
    ).strip(),
}

STORIES: list[dict[str, object]] = [
    {
        "slug": "samuel-en-de-schuld-die-nooit-kleiner-werd",
        "child_pseudonym": "Samuel",
        "child_age": 16,
        "route_nl": "Centrale Mediterrane Route, Libië",
        "route_en": "Central Mediterranean Route, Libya",
        "title_nl": "Samuel en de schuld die nooit kleiner werd",
        "title_en": "Samuel and the debt that never got smaller",
        "summary_nl": (
            "Om zijn reis te betalen moest Samuel werken voor de man die hem verder zou "
            "helpen. Na maanden zwoegen was zijn schuld nog even groot."
        ),
        "summary_en": (
            "To pay for his journey, Samuel had to work for the man who was meant to help "
            "him onward. After months of hard labour, his debt was as large as ever."
        ),
        "body_nl": dedent(
            """
            Samuel (niet zijn echte naam) was vijftien toen hij van huis vertrok. De oogst
            was twee jaar op rij mislukt en zijn moeder kon de schoolboeken van zijn
            jongere zusjes niet meer betalen. Een kennis uit het dorp wist iemand die
            jongens zoals hij naar Europa kon brengen. Betalen hoefde pas later, zei hij.
            Dat klonk als een uitweg.

            In Libië ontdekte Samuel wat 'later' betekende. De man die hem verder zou
            helpen, zette hem aan het werk op een bouwplaats. Van zonsopgang tot het donker
            sjouwde hij stenen en zakken cement. Loon kreeg hij niet: alles ging naar zijn
            schuld. Maar voor elke maaltijd, elke slaapplek en elke fles water werd er weer
            geld bijgeschreven. Hoe harder hij werkte, hoe verder de reis weg leek.

            Samuel was niet de enige. Op de bouwplaats werkten meer jongens, sommigen nog
            jonger dan hij. Ze mochten het terrein niet af en hun telefoons waren
            ingenomen. Wie klaagde, kreeg te horen dat hij dan maar nooit zou vertrekken.

            > "Ik telde de dagen niet meer. Ik dacht alleen: als ik stop, ben ik alles kwijt
            > wat mijn moeder voor mij heeft opgegeven."

            Na bijna acht maanden lukte het Samuel om via een andere jongen in contact te
            komen met een organisatie die kinderen helpt. Hij woont nu in een opvang voor
            minderjarigen, waar hij voor het eerst in lange tijd rustig kan slapen. Hij
            leert lezen en schrijven in een nieuwe taal en hij heeft zijn moeder weer
            gesproken.

            Schuldarbeid is een van de meest voorkomende vormen van uitbuiting van kinderen
            op de Centrale Mediterrane Route. Save the Children en onze partners bieden
            kinderen zoals Samuel psychosociale steun, een veilige plek om bij te komen en
            noodhulp zoals eten en medische zorg. We helpen hen ook hun familie terug te
            vinden. Met jouw steun bereiken we meer kinderen, voordat een schuld hun leven
            gaat bepalen.
            """
        ).strip(),
        "body_en": dedent(
            """
            Samuel (not his real name) was fifteen when he left home. The harvest had failed
            two years in a row and his mother could no longer afford school books for his
            younger sisters. An acquaintance from the village knew someone who could take
            boys like him to Europe. He could pay later, the man said. It sounded like a way
            out.

            In Libya, Samuel found out what "later" meant. The man who was meant to help him
            onward put him to work on a building site. From sunrise until dark he hauled
            bricks and bags of cement. He was never paid: everything went towards his debt.
            But for every meal, every place to sleep and every bottle of water, more money
            was added to it. The harder he worked, the further away the journey seemed.

            Samuel was not the only one. Other boys worked on the site, some even younger
            than him. They were not allowed to leave the grounds and their phones had been
            taken away. Anyone who complained was told that, in that case, he would never
            leave.

            > "I stopped counting the days. All I could think was: if I stop, I lose
            > everything my mother gave up for me."

            After almost eight months, through another boy, Samuel managed to get in touch
            with an organisation that helps children. He now lives in a shelter for minors,
            where for the first time in a long while he can sleep in peace. He is learning
            to read and write in a new language, and he has spoken to his mother again.

            Debt bondage is one of the most common forms of exploitation of children on the
            Central Mediterranean Route. Save the Children and our partners give children
            like Samuel psychosocial support, a safe place to recover and emergency aid such
            as food and medical care. We also help them find their families again. With
            your support, we can reach more children before a debt comes to rule their
            lives.
            """
        ).strip(),
        "image_alt_nl": (
            "Getekende illustratie van een jongen die bij zonsondergang een zak cement "
            "over een bouwplaats draagt"
        ),
        "image_alt_en": (
            "Drawn illustration of a boy carrying a sack of cement across a building site at sunset"
        ),
        "order": 10,
    },
    {
        "slug": "amira-en-de-nacht-bij-de-grens",
        "child_pseudonym": "Amira",
        "child_age": 13,
        "route_nl": "Centrale Mediterrane Route, grens tussen Niger en Libië",
        "route_en": "Central Mediterranean Route, border between Niger and Libya",
        "title_nl": "Amira en de nacht bij de grens",
        "title_en": "Amira and the night at the border",
        "summary_nl": (
            "Bij een drukke grensovergang raakte Amira haar tante kwijt. Toen een vreemde "
            "man haar een gratis overtocht beloofde, moest ze in haar eentje beslissen."
        ),
        "summary_en": (
            "At a crowded border crossing, Amira lost her aunt. When a stranger promised "
            "her a free passage, she had to decide on her own what to do."
        ),
        "body_nl": dedent(
            """
            Amira (niet haar echte naam) was dertien toen ze met haar tante en een jong
            neefje vertrok. Het geweld in hun regio was zo dichtbij gekomen dat blijven geen
            keuze meer was. Haar moeder bleef achter bij Amira's oma, die te zwak was voor
            de reis. "Blijf bij je tante," zei ze bij het afscheid. "Wat er ook gebeurt."

            Weken later stonden ze in een lange rij bij een grensovergang midden in de
            woestijn. Het was er druk en onrustig. Mannen liepen langs de wachtenden en
            boden aan om mensen sneller naar de overkant te brengen. In het gedrang verloor
            Amira haar tante uit het oog. Toen het donker werd, zat ze alleen tussen
            vreemden.

            Een man kwam naast haar zitten. Hij was vriendelijk, gaf haar water en zei dat
            hij haar tante kende. Als ze met hem meeging, hoefde ze niets te betalen; ze kon
            later voor zijn familie werken. Amira twijfelde. Ze was moe en bang, en hij was
            de eerste die naar haar omkeek.

            > "Ik hoorde de stem van mijn moeder in mijn hoofd. Ze zei dat ik bij mijn tante
            > moest blijven. Dus bleef ik zitten en zei ik dat ik op haar wachtte."

            Die beslissing beschermde haar. Een vrouw die bij de grenspost kinderen zonder
            begeleiding opving, zag Amira zitten en nam haar mee naar een tent met andere
            kinderen. Daar kreeg ze eten, een deken en een plek om te slapen. Twee dagen
            later werd ze via het programma voor het opsporen van familie herenigd met haar
            tante.

            Grensovergangen zijn plekken waar kinderen extra kwetsbaar zijn: in de drukte
            raken ze hun familie kwijt, en mensenhandelaren weten dat. Save the Children
            zet zich in voor veilige plekken voor kinderen op deze punten langs de route,
            biedt noodhulp en psychosociale steun, en helpt kinderen die hun familie kwijt
            zijn om elkaar terug te vinden. Zo hoeft geen kind zoals Amira de nacht alleen
            door te komen.
            """
        ).strip(),
        "body_en": dedent(
            """
            Amira (not her real name) was thirteen when she set off with her aunt and a
            young cousin. The violence in their region had come so close that staying was
            no longer an option. Her mother stayed behind with Amira's grandmother, who was
            too frail to travel. "Stay with your aunt," she said as they parted. "Whatever
            happens."

            Weeks later they were standing in a long queue at a border crossing in the
            middle of the desert. It was crowded and tense. Men walked along the line,
            offering to get people across faster. In the crush, Amira lost sight of her
            aunt. By the time it got dark, she was sitting alone among strangers.

            A man sat down next to her. He was friendly, gave her water and said he knew her
            aunt. If she came with him, she wouldn't have to pay anything; she could work
            for his family later. Amira hesitated. She was tired and frightened, and he was
            the first person who had paid her any attention.

            > "I heard my mother's voice in my head. She said I had to stay with my aunt. So
            > I stayed where I was and said I was waiting for her."

            That decision protected her. A woman at the border post who looked after
            unaccompanied children noticed Amira and took her to a tent with other children.
            There she was given food, a blanket and a place to sleep. Two days later,
            through the family tracing programme, she was reunited with her aunt.

            Border crossings are places where children are especially vulnerable: they lose
            their families in the crowds, and traffickers know it. Save the Children works
            for safe spaces for children at these points along the route, provides emergency
            aid and psychosocial support, and helps children who have been separated from
            their families to find each other again. That way, no child like Amira has to
            get through the night alone.
            """
        ).strip(),
        "image_alt_nl": (
            "Getekende illustratie van een meisje met een rugzak dat in het donker wacht "
            "bij een grenspost in de woestijn"
        ),
        "image_alt_en": (
            "Drawn illustration of a girl with a backpack waiting in the dark at a border "
            "post in the desert"
        ),
        "order": 20,
    },
    {
        "slug": "mariam-en-het-te-mooie-aanbod",
        "child_pseudonym": "Mariam",
        "child_age": 15,
        "route_nl": "Centrale Mediterrane Route, vluchtelingenkamp in Niger",
        "route_en": "Central Mediterranean Route, refugee camp in Niger",
        "title_nl": "Mariam en het aanbod dat te mooi was",
        "title_en": "Mariam and the offer that was too good to be true",
        "summary_nl": (
            "In het vluchtelingenkamp kreeg Mariam een goedbetaalde baan in de stad "
            "aangeboden. Er was één voorwaarde: niemand mocht het weten."
        ),
        "summary_en": (
            "In the refugee camp, Mariam was offered a well-paid job in the city. There was "
            "one condition: no one could know."
        ),
        "body_nl": dedent(
            """
            Mariam (niet haar echte naam) woont al anderhalf jaar met haar moeder en drie
            jongere broertjes in een vluchtelingenkamp. Hun tent staat in een lange rij
            tenten die allemaal op elkaar lijken. Haar vader is onderweg achtergebleven;
            waar hij nu is, weten ze niet. Mariam is vijftien en voelt zich verantwoordelijk
            voor het gezin.

            Het leven in het kamp is zwaar. De voedselpakketten zijn kleiner geworden en er
            is maar een paar uur per week school. Mariams moeder is vaak ziek. Als oudste
            helpt Mariam met koken, water halen en de zorg voor haar broertjes. Ze mist haar
            vriendinnen en haar oude klaslokaal.

            Op een dag sprak een vrouw haar aan bij het waterpunt. Ze zocht meisjes die in
            de stad in een huishouden wilden werken. Er was een goed loon, eten en een eigen
            kamer. Mariam zou elke maand geld naar haar moeder kunnen sturen. Ze moest wel
            de volgende ochtend vertrekken, en niemand mocht het weten.

            > "Ik wilde zo graag helpen. Maar waarom moest het geheim blijven? Die vraag
            > bleef maar door mijn hoofd gaan."

            Mariam ging al een tijdje naar een meidengroep in de kindvriendelijke ruimte van
            het kamp. Daar hadden ze het gehad over aanbiedingen die te mooi lijken om waar
            te zijn. Ze vertelde het aan de begeleider van de groep. Die nam het serieus,
            ging met Mariam en haar moeder in gesprek en meldde het bij het team dat
            kinderen in het kamp beschermt. Mariam ging niet mee. Ze liep een groot risico
            op uitbuiting, en dat weet ze nu.

            In vluchtelingenkampen zijn kinderen vaak slecht beschermd, terwijl juist daar
            mensen rondlopen die misbruik maken van hun zorgen. Save the Children biedt in
            kampen veilige ruimtes waar kinderen kunnen spelen, leren en praten. We geven
            psychosociale steun, en noodhulp aan gezinnen die het niet redden. En we helpen
            bij het zoeken naar familieleden die onderweg zijn kwijtgeraakt, zoals Mariams
            vader.
            """
        ).strip(),
        "body_en": dedent(
            """
            Mariam (not her real name) has been living in a refugee camp for a year and a
            half with her mother and three younger brothers. Their tent stands in a long
            row of tents that all look alike. Her father was left behind somewhere along the
            way; they don't know where he is now. Mariam is fifteen and feels responsible
            for the family.

            Life in the camp is hard. The food parcels have become smaller and there are
            only a few hours of school a week. Mariam's mother is often ill. As the eldest,
            Mariam helps with cooking, fetching water and looking after her brothers. She
            misses her friends and her old classroom.

            One day a woman approached her at the water point. She was looking for girls
            who wanted to work in a household in the city. There would be good pay, food and
            a room of her own. Mariam would be able to send money to her mother every month.
            But she had to leave the next morning, and no one was to know.

            > "I wanted so badly to help. But why did it have to stay a secret? That question
            > kept going round in my head."

            For a while, Mariam had been going to a girls' group in the camp's child-friendly
            space. There they had talked about offers that seem too good to be true. She
            told the group leader, who took it seriously, sat down with Mariam and her
            mother, and reported it to the team that protects children in the camp. Mariam
            did not go. She had been at serious risk of exploitation, and she knows that
            now.

            Children in refugee camps are often poorly protected, while it is precisely
            there that people take advantage of their worries. In the camps, Save the
            Children provides safe spaces where children can play, learn and talk. We give
            psychosocial support, and emergency aid to families who cannot cope. And we help
            search for relatives who were lost along the way, like Mariam's father.
            """
        ).strip(),
        "image_alt_nl": (
            "Getekende illustratie van een meisje bij een waterpunt tussen rijen witte "
            "tenten in een vluchtelingenkamp"
        ),
        "image_alt_en": (
            "Drawn illustration of a girl at a water point between rows of white tents in "
            "a refugee camp"
        ),
        "order": 30,
    },
    {
        "slug": "dawit-en-het-telefoontje-naar-huis",
        "child_pseudonym": "Dawit",
        "child_age": 15,
        "route_nl": "Centrale Mediterrane Route, Libië",
        "route_en": "Central Mediterranean Route, Libya",
        "title_nl": "Dawit en het telefoontje naar huis",
        "title_en": "Dawit and the phone call home",
        "summary_nl": (
            "Vlak na de grens werden Dawit en zijn reisgenoten ontvoerd. De ontvoerders "
            "eisten losgeld van zijn familie, een bedrag dat zij nooit konden betalen."
        ),
        "summary_en": (
            "Just across the border, Dawit and his fellow travellers were kidnapped. The "
            "kidnappers demanded a ransom from his family that they could never have paid."
        ),
        "body_nl": dedent(
            """
            Dawit (niet zijn echte naam) was veertien toen hij met een groep volwassenen uit
            zijn land door de woestijn trok. Hij reisde alleen. Zijn ouders hadden al hun
            spaargeld bij elkaar gelegd, zodat hij weg kon uit een land waar jongens zoals
            hij geen toekomst hadden.

            Vlak na de grens werd de vrachtwagen waarin ze zaten tegengehouden. Gewapende
            mannen brachten de groep naar een afgelegen gebouw. Daar werd duidelijk wat ze
            wilden: geld. Iedereen moest naar huis bellen en om geld vragen. Het bedrag dat
            voor Dawit werd genoemd, zou zijn familie nooit bij elkaar krijgen.

            Het telefoontje naar zijn moeder vindt Dawit nog altijd het moeilijkste moment.
            Hij hoorde haar huilen en kon niets zeggen om haar gerust te stellen. De weken
            daarna zat hij met tientallen anderen in een kale ruimte, met weinig eten en
            zonder te weten wat er zou gebeuren.

            > "Ik was niet bang voor mezelf. Ik was bang dat mijn familie alles zou verkopen
            > voor mij. Dat wilde ik niet."

            Na ruim een maand ging de deur open en mocht een deel van de groep gaan, Dawit
            ook. Waarom, weet hij tot vandaag niet. Met een paar anderen liep hij naar de
            dichtstbijzijnde stad, waar een hulporganisatie hem doorverwees naar een opvang
            voor kinderen die zonder ouders reizen. Van daaruit kon hij zijn moeder
            eindelijk vertellen dat hij veilig was.

            Ontvoering voor losgeld is een van de grootste gevaren voor kinderen op deze
            route. Wie het doorstaat, draagt de angst vaak nog lang met zich mee. Save the
            Children biedt kinderen zoals Dawit psychosociale steun om hun ervaringen een
            plek te geven, een veilig onderdak, noodhulp en hulp bij het herstellen van het
            contact met hun familie. Zo leert Dawit stap voor stap weer vertrouwen op de
            mensen om hem heen.
            """
        ).strip(),
        "body_en": dedent(
            """
            Dawit (not his real name) was fourteen when he crossed the desert with a group
            of adults from his country. He was travelling alone. His parents had pooled all
            their savings so that he could get away from a country where boys like him had
            no future.

            Just after the border, the truck they were travelling in was stopped. Armed men
            took the group to a remote building. There it became clear what they wanted:
            money. Everyone had to call home and ask for money. The sum demanded for Dawit
            was more than his family could ever raise.

            Dawit still thinks of the call to his mother as the hardest moment. He heard her
            crying and could say nothing to reassure her. For the weeks that followed he was
            held with dozens of others in a bare room, with little food and no idea what
            would happen.

            > "I wasn't afraid for myself. I was afraid my family would sell everything for
            > me. I didn't want that."

            After more than a month, the door opened and part of the group was allowed to
            go, Dawit among them. To this day he does not know why. With a few others he
            walked to the nearest town, where an aid organisation referred him to a shelter
            for children travelling without parents. From there, he was finally able to tell
            his mother that he was safe.

            Kidnapping for ransom is one of the greatest dangers for children on this route.
            Those who come through it often carry the fear with them for a long time. Save
            the Children gives children like Dawit psychosocial support to help them come to
            terms with what happened, a safe place to stay, emergency aid and help restoring
            contact with their families. Step by step, Dawit is learning to trust the people
            around him again.
            """
        ).strip(),
        "image_alt_nl": (
            "Getekende illustratie van een jongen die stil naar een oude mobiele telefoon "
            "in zijn handen kijkt"
        ),
        "image_alt_en": (
            "Drawn illustration of a boy quietly looking at an old mobile phone in his hands"
        ),
        "order": 40,
    },
    {
        "slug": "idris-gaat-weer-naar-school",
        "child_pseudonym": "Idris",
        "child_age": 12,
        "route_nl": "Centrale Mediterrane Route, Italië",
        "route_en": "Central Mediterranean Route, Italy",
        "title_nl": "Idris gaat weer naar school",
        "title_en": "Idris is back at school",
        "summary_nl": (
            "Na een lange vlucht vond Idris een veilige plek in Italië. Nu zit hij weer in "
            "de klas, leert hij Italiaans en droomt hij ervan om bruggen te bouwen."
        ),
        "summary_en": (
            "After a long journey, Idris found safety in Italy. Now he is back in the "
            "classroom, learning Italian and dreaming of building bridges."
        ),
        "body_nl": dedent(
            """
            Idris (niet zijn echte naam) is twaalf en heeft een nieuwe favoriete plek: het
            tweede tafeltje van links, bij het raam, in een klaslokaal op Sicilië. Een jaar
            geleden had hij niet gedacht dat hij ooit nog in een klas zou zitten.

            Hij vluchtte samen met zijn oudere broer, nadat hun huis bij de gevechten was
            verwoest. De reis duurde maanden. Ze sliepen in bussen, op markten en in
            overvolle huizen, waar ze moesten wachten tot iemand hen verder bracht. Over de
            oversteek van de zee praat Idris liever niet. "Het was heel lang donker," is
            alles wat hij erover zegt.

            Toen ze in Italië aankwamen, werd Idris opgevangen in een opvanghuis voor
            minderjarigen. De eerste weken sliep hij slecht en schrok hij van harde
            geluiden. In de kinderruimte leerde hij met een begeleider praten over wat hij
            had meegemaakt: eerst met tekeningen, later ook met woorden. Langzaam kwam zijn
            lach terug.

            > "Op school ben ik niet de jongen die gevlucht is. Ik ben gewoon Idris, die goed
            > is in rekenen en slecht in tekenen."

            Nu leert Idris Italiaans, speelt hij na school voetbal en belt hij elke week met
            zijn broer, die in een andere stad woont. Later wil hij ingenieur worden en
            bruggen bouwen. "Zodat mensen veilig naar de overkant kunnen," zegt hij.

            Het verhaal van Idris laat zien wat er mogelijk is als een kind op tijd de
            juiste hulp krijgt. Save the Children biedt kinderen na aankomst psychosociale
            steun, veilige plekken om te spelen en te leren, noodhulp, en hulp bij het
            terugvinden van familie en het contact houden met elkaar. Want elk kind
            verdient het om gewoon kind te kunnen zijn.
            """
        ).strip(),
        "body_en": dedent(
            """
            Idris (not his real name) is twelve and has a new favourite spot: the second
            desk from the left, by the window, in a classroom in Sicily. A year ago he would
            never have thought he would sit in a classroom again.

            He fled with his older brother after their home was destroyed in the fighting.
            The journey took months. They slept on buses, at markets and in overcrowded
            houses, where they had to wait until someone took them further. Idris prefers
            not to talk about crossing the sea. "It was dark for a very long time," is all
            he says about it.

            When they arrived in Italy, Idris was taken in at a reception home for minors.
            In the first weeks he slept badly and flinched at loud noises. In the children's
            room, he learned to talk with a counsellor about what he had been through: first
            with drawings, later with words too. Slowly, his laugh came back.

            > "At school I'm not the boy who fled. I'm just Idris, who is good at maths and
            > bad at drawing."

            Now Idris is learning Italian, plays football after school and calls his brother,
            who lives in another city, every week. When he grows up he wants to be an
            engineer and build bridges. "So people can get across safely," he says.

            Idris's story shows what is possible when a child gets the right help in time.
            After arrival, Save the Children offers children psychosocial support, safe
            places to play and learn, emergency aid, and help finding family and staying in
            touch. Because every child deserves the chance to simply be a child.
            """
        ).strip(),
        "image_alt_nl": (
            "Getekende illustratie van een lachende jongen in een klaslokaal, met een "
            "schrift en een potlood op zijn tafeltje"
        ),
        "image_alt_en": (
            "Drawn illustration of a smiling boy in a classroom, with a notebook and a "
            "pencil on his desk"
        ),
        "order": 50,
    },
]
