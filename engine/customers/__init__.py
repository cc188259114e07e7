"""Who the shoppers are: segments, RFM, portraits and interest tags, User 360."""
